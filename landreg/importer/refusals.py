"""Why an import is refused as a whole, and how a message names the option that would fix it.

The importer is called from the command line (``landreg import --crs 25832``) and over HTTP (a form
field ``crs=25832``). Its messages name options neutrally, with :func:`option`; each adapter spells
them its own way through :meth:`ImportRefused.render` (``str()`` gives a neutral spelling)::

    raise ImportRefused(f"… give it with {option('crs')} (e.g. {option('crs', 25832)})", field="crs")
    exc.render(lambda name, value: f"--{name}" + (f" {value}" if value is not None else ""))

``field`` names the option (or ``file``) at fault with the same neutral name, for the error body.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from landreg.errors import DomainError

#: How an adapter spells an option: (name, value or None) -> text.
Spelling = Callable[[str, str | None], str]

_OPTION = re.compile(r"⟦([a-z_]+)(?:=([^⟧]*))?⟧")


def option(name: str, value: object | None = None) -> str:
    """An option (with an example value) inside a message, spelled later by the adapter."""
    return f"⟦{name}⟧" if value is None else f"⟦{name}={value}⟧"


def neutral(name: str, value: str | None) -> str:
    return f"the option {name}" if value is None else f"{name}={value}"


def render(message: str, spell: Spelling = neutral) -> str:
    """The message with every option spelled by ``spell``."""
    return _OPTION.sub(lambda m: spell(m[1], m[2]), message)


class ImportRefused(DomainError, ValueError):
    """The file as a whole cannot be imported (unreadable, no CRS, wrong CRS, bad mapping): nothing is
    written. ``field``: the option or ``file`` at fault, if one is."""

    def __str__(self) -> str:
        return render(self.template)

    @property
    def template(self) -> str:
        """The message with its options unspelled."""
        return str(self.args[0]) if self.args else ""

    def render(self, spell: Spelling) -> str:
        return render(self.template, spell)


class InvalidOption(ImportRefused):
    """An option's value is malformed (an unknown encoding, mode or CRS), whatever the file."""


class FileTooLarge(ImportRefused):
    """The upload is larger than the configured limit."""

    def __init__(self, limit_bytes: int, setting: str):
        size = f"{limit_bytes / 1024**2:,.0f} MiB" if limit_bytes >= 1024**2 else f"{limit_bytes:,} bytes"
        super().__init__(
            f"the upload is larger than the limit of {size} ({setting}); "
            "split the file (e.g. by municipality), or ask the operator to raise the limit",
            field="file",
        )
        self.limit_bytes = limit_bytes
