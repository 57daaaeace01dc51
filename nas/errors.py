"""The errors a user sees as one line on stderr (exit code 2): every one is a `NasError`."""


class NasError(Exception):
    """A problem the user can fix (a bad option, file or id); its message is one line."""


class ConfigError(NasError, ValueError):
    """A bad configuration key or value."""


class DataError(NasError):
    """A data file is missing, truncated or not what it claims to be."""


class ExperimentError(NasError):
    """A problem with an experiment the user named (unknown id, busy port, still running...)."""


class ExportError(NasError):
    """An export, finalist or report input cannot be had (unknown experiment, target exists...)."""


class RunError(NasError):
    """A run folder cannot be written or resumed as asked."""
