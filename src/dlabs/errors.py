"""The one exception type users see.

A `DlabsError` carries a one-line message that names the problem and what to do about it. The
CLI prints it without a traceback and exits non-zero; the web app turns it into a 4xx.
"""


def printable(text: str) -> str:
    """`text` with unpaired surrogates (from a JSON escape such as ``"\\ud800"`` or an undecodable
    file name) replaced by U+FFFD, so that it can be written as UTF-8 anywhere."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class DlabsError(Exception):
    """A problem with the user's input, data or run folder, stated in one line."""

    def __str__(self) -> str:
        # one printable line whatever the message quotes (a parser's multi-line error, a bad key)
        return " ".join(printable(super().__str__()).split("\n"))


class DataError(DlabsError):
    """A data file that cannot be had or does not verify."""


class InputError(DlabsError):
    """Bad input to `predict` (or to the web API)."""


class TooLarge(InputError):
    """Input over a stated size limit (a file, an image's pixels, a request): HTTP 413 on the web."""
