"""Named errors; each message says what to do about it."""


class LakesageError(Exception):
    """Base class for errors shown to users as one line."""


class SettingsError(LakesageError):
    """The settings file or an environment variable is invalid."""


class ModelNotFoundError(LakesageError):
    """The embedding model folder cannot be found locally."""


class ModelMismatchError(LakesageError):
    """The index was built with a different embedding model."""


class IndexNotFoundError(LakesageError):
    """There is no index in the home folder yet."""


class SourceError(LakesageError):
    """A source cannot be read; the message names it and the reason."""


class UnknownNameError(LakesageError):
    """A backend, persona or engine name is not known."""


class LockedError(LakesageError):
    """Another ingest holds the home folder."""


class PersonaError(LakesageError):
    """A persona card cannot be read or parsed; the message names the file."""


class LLMError(LakesageError):
    """The LLM endpoint cannot be reached, refused the request or sent something unexpected."""


class StoreUnavailableError(LakesageError):
    """The Chroma server named by LAKESAGE_CHROMA_URL does not answer."""


class StoreCorruptError(LakesageError):
    """The embedded index cannot be opened and cannot be rebuilt from Chroma's log."""


class MissingExtraError(LakesageError):
    """An optional dependency is not installed; the message names the pip install."""
