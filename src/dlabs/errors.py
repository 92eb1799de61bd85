"""The one exception type users see.

A `DlabsError` carries a one-line message that names the problem and what to do about it. The
CLI prints it without a traceback and exits non-zero; the web app turns it into a 4xx.
"""


class DlabsError(Exception):
    """A problem with the user's input, data or run folder, stated in one line."""


class DataError(DlabsError):
    """A data file that cannot be had or does not verify."""


class InputError(DlabsError):
    """Bad input to `predict` (or to the web API)."""
