"""dlabs: a deep-learning lab manual as real software.

Every lab runs end to end on real data (fetch and verify, explore, train the manual's model and
a stronger one, evaluate against honest baselines on the standard protocol, plot, report) and
its trained model can be used from the command line, from Python and from a web page.

Python use mirrors the CLI verbs: ``from dlabs import api; api.train("boston", preset="smoke")``.
"""

__version__ = "0.1.0"
