"""segkit's own errors: each message says what is wrong, where, and what to do."""


class SegkitError(Exception):
    """Base class: the command line prints these as one message, without a traceback."""


class ParamsError(SegkitError, ValueError):
    """A params file or override is invalid (unknown key, wrong type, value out of range)."""


class DataError(SegkitError, ValueError):
    """Input data cannot be used as given (missing file or column, no valid rows, ...)."""
