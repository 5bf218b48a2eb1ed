"""The domain's refusals. Adapters map each class to their own answer in one place
(``api/errors.py``: class → HTTP status; the CLI prints the message and exits non-zero).

Messages name the field and say what would be accepted; they never contain server paths.
"""

from __future__ import annotations

from landreg.access import AccessDenied
from landreg.messages import Message


class DomainError(Exception):
    """Base of the refusals a caller can act on; ``field`` names the input at fault, if one is. A
    :class:`~landreg.messages.Message` is said in English where the text is read (API, command line)
    and in a person's language by :meth:`text` (the workspace)."""

    def __init__(self, message: str | Message, field: str | None = None):
        super().__init__(str(message))
        self.field = field
        self.said = message if isinstance(message, Message) else None

    def text(self, lang: str = "en") -> str:
        return self.said.text(lang) if self.said is not None else str(self)


class InvalidParameter(DomainError, ValueError):
    """A parameter has the wrong type, range or form."""


class NotFound(DomainError, LookupError):
    """Nothing of that id exists, or nothing the caller may see."""


class Gone(DomainError):
    """It existed, and was retired."""


class VersionRequired(DomainError):
    """A change without the version it was based on (no If-Match): refused so nobody overwrites
    another person's change unseen."""


class Conflict(DomainError):
    """The request contradicts the state it would change (e.g. reviewing a superseded submission);
    the message says what to do instead."""


class VersionConflict(DomainError):
    """The parcel changed since the caller read it."""

    def __init__(self, message: str, current_version: int):
        super().__init__(message)
        self.current_version = current_version


__all__ = [
    "AccessDenied",
    "Conflict",
    "DomainError",
    "Gone",
    "InvalidParameter",
    "NotFound",
    "VersionConflict",
    "VersionRequired",
]
