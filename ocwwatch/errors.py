"""The exception tree. Library errors are translated into these at module boundaries.

A 404, a timeout or a refused connection is never an exception: those are recorded outcomes.
Exceptions are for the run itself going wrong (bad config, an unusable database).
"""


class OcwwatchError(Exception):
    """Base of every error ocwwatch raises on purpose."""


class ConfigError(OcwwatchError):
    """A settings or curated-list file is missing, unreadable or invalid.

    The message names the file, the entry and the field, one problem per line.
    """


class StoreError(OcwwatchError):
    """The SQLite database cannot be opened, migrated, read or written."""


class StoreBusyError(StoreError):
    """Another ocwwatch process holds the database's writer lock."""


class ForeignDatabaseError(StoreError):
    """The database file is another program's (issue 11): refused, never extended."""


class NoSuchRunError(StoreError):
    """The database has no run of that number: a usage error (exit 2), like an unknown id."""


class StoppingError(OcwwatchError):
    """The daemon was asked to stop while a tick waited for the lock: no run was started."""


class ScenarioError(OcwwatchError):
    """A recorded scenario folder (for `--replay` or the tests) is missing or malformed."""


class FileWriteError(OcwwatchError):
    """A file ocwwatch writes (a report, the lock, the curated list, a scenario) cannot be written
    safely: the folder is read-only or full, or a symlink stands where the file goes."""


class ReportFilesError(FileWriteError):
    """A run is stored complete, but its report files could not all be written (issue 11): the
    run stays complete, its report is still printed, the next run writes the missing files."""
