"""`dlabs serve`: a web page and a JSON API to try every trained lab and read its reports.

The app knows no lab by name. Each registered lab appears with the form its `input_kind`
calls for (tabular fields, text, an image or a CSV upload, plus whatever its `Lab.form` hook
adds), runs on its latest (or chosen) run folder, loaded once and kept in memory, and shows its
predictions generically (class probabilities as bars, plots as images, the rest as a table).

    from dlabs.serve import create_app
    app = create_app("runs")          # an ASGI app for uvicorn
"""

from dlabs.serve.app import MAX_UPLOAD_BYTES, create_app, serve_forever

__all__ = ["create_app", "serve_forever", "MAX_UPLOAD_BYTES"]
