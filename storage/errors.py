"""Errors cotfactory reports to users: each message says what is wrong and what to do."""


class CotfactoryError(Exception):
    """Base of every error the CLI reports as a one-line message instead of a traceback."""


class StoreError(CotfactoryError):
    """The store cannot be opened or used as asked."""


class StoreBusy(StoreError):
    """Another process held the database file for longer than the lock timeout."""


class SchemaError(StoreError):
    """The file's schema version cannot be used by this version of cotfactory."""


class InputError(CotfactoryError):
    """An input file is malformed; the message lists every bad line as FILE:LINE: problem."""
