"""Reports: an HTML page per run (metrics against baselines, plots, config) and an index."""
