"""The command line: a thin table from verb to a function in `dlabs.api`.

Heavy libraries (torch, matplotlib, pandas) are imported inside the verbs, so ``dlabs --help``
starts at once. A `DlabsError` prints one line on standard error and exits with status 2. New
verbs go in a module of their own here, imported below so that they register on `app`.
"""

from dlabs.cli import _export, _run, _study, _tune, _use  # noqa: F401  (register their verbs)
from dlabs.cli._app import app, main

__all__ = ["app", "main"]
