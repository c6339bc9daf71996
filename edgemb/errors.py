"""Errors a user can act on: each message says what was wrong, where, and what to do."""


class EdgembError(Exception):
    """Base class of every error edgemb reports to the user without a traceback."""

    exit_code = 1


class DatasetError(EdgembError):
    """A dataset is missing, empty or unreadable."""


class RunFolderError(EdgembError):
    """A run folder is missing an artifact or belongs to another configuration."""
