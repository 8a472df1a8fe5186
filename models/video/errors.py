"""The one error the capture path raises for bad input: a readable line naming the file and what to do."""


class CaptureError(RuntimeError):
    """Bad input or a failed stage of the capture path; the message is one line for the user."""


class Cancelled(CaptureError):
    """The caller's cancel callback asked the run to stop."""
