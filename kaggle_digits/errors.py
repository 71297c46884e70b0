"""One exception family, so scripts can print a single actionable line instead of a traceback."""


class KaggleDigitsError(Exception):
    """An error the user can act on; its message names the file, row and column involved."""


class DataError(KaggleDigitsError, ValueError):
    """The competition files (or a submission) are not in the expected format."""


class ConfigError(KaggleDigitsError, ValueError):
    """A flag, TOML key or model name is not valid."""


class OutputError(KaggleDigitsError, OSError):
    """An output cannot be written (exists already, unwritable folder, no space left)."""
