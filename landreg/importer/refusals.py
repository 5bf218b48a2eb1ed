"""Why an import is refused as a whole, and how a message names the option that would fix it.

The importer is called from the command line (``landreg import --crs 25832``) and over HTTP (a form
field ``crs=25832``). Its messages name options neutrally, with :func:`option`; each adapter spells
them its own way through :meth:`ImportRefused.render` (``str()`` gives a neutral spelling)::

    raise ImportRefused(f"… give it with {option('crs')} (e.g. {option('crs', 25832)})", field="crs")
    exc.render(command_line)   # "… give it with --crs (e.g. --crs 25832)"
    exc.render(form_field)     # "… give it with the form field crs (e.g. crs=25832)"

:data:`OPTIONS` declares once how each channel names an option; the reasons of rejected rows and
the notes of a report name options the same way (``ImportReport.lines`` and ``to_dict`` take the
spelling). ``field`` names the option (or ``file``) at fault with the same neutral name, for the
error body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from landreg.errors import DomainError

#: How an adapter spells an option: (name, value or None) -> text.
Spelling = Callable[[str, str | None], str]

_OPTION = re.compile(r"⟦([a-z_]+)(?:=([^⟧]*))?⟧")


@dataclass(frozen=True)
class Option:
    """An option as the command line and a form (``POST /imports``) name it."""

    cli: str  # "--crs"
    form: str  # "crs"
    switch: bool = False  # yes/no: "--retire-missing" on the command line, "retire_missing=true" in a form

    @classmethod
    def named(cls, name: str, switch: bool = False) -> Option:
        return cls("--" + name.replace("_", "-"), name, switch)


#: The options the importer's messages name (ImportOptions' names); any other name is spelled the same way.
OPTIONS: dict[str, Option] = {
    **{
        name: Option.named(name)
        for name in (
            "layer",
            "sheet",
            "municipality",
            "category",
            "mapping",
            "crs",
            "encoding",
            "wkt_column",
            "x_column",
            "y_column",
            "mode",
        )
    },
    **{name: Option.named(name, switch=True) for name in ("dry_run", "retire_missing")},
}


def option(name: str, value: object | None = None) -> str:
    """An option (with an example value) inside a message, spelled later by the adapter."""
    return f"⟦{name}⟧" if value is None else f"⟦{name}={value}⟧"


def _declared(name: str) -> Option:
    return OPTIONS.get(name) or Option.named(name)


def neutral(name: str, value: str | None) -> str:
    return f"the option {name}" if value is None else f"{name}={value}"


def command_line(name: str, value: str | None) -> str:
    """An option as ``landreg import`` takes it: ``--crs``, ``--crs 25832``, ``--retire-missing``."""
    declared = _declared(name)
    return declared.cli if value is None or declared.switch else f"{declared.cli} {value}"


def form_field(name: str, value: str | None) -> str:
    """An option as ``POST /imports`` takes it: ``the form field crs``, ``crs=25832``, ``retire_missing=true``."""
    declared = _declared(name)
    if declared.switch:
        return f"{declared.form}=true"
    return f"the form field {declared.form}" if value is None else f"{declared.form}={value}"


def render(message: str, spell: Spelling = neutral) -> str:
    """The message with every option spelled by ``spell``."""
    return _OPTION.sub(lambda m: spell(m[1], m[2]), message)


def listing(items: Iterable[object], limit: int = 20, quote: bool = False) -> str:
    """Items joined by commas; beyond ``limit`` the first ones and "… and N more"."""
    items = [repr(str(i)) if quote else str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} … and {len(items) - limit} more"


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
