r"""Why an import is refused as a whole, and how a message names the option that would fix it.

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

Refusals, reasons and notes are :class:`~landreg.messages.Message`\ s (German and English): the API
and the command line say them in English, as they always did; the workspace in the person's
language. A reason kept as text (in the database, in a report's lists) keeps its message with
:func:`kept`; :func:`render` says it in a language.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from landreg.errors import DomainError
from landreg.messages import Message, message

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


def render(said: str | Message, spell: Spelling = neutral, lang: str = "en") -> str:
    """The message in ``lang`` (a :class:`Message`, or text that may hold some, see :func:`kept`)
    with every option spelled by ``spell``."""
    text = said.text(lang) if isinstance(said, Message) else in_language(said, lang)
    return _OPTION.sub(lambda m: spell(m[1], m[2]), text)


# -- messages kept as text -------------------------------------------------------------------------
# A row's reason travels through the database (the staging table import_issue) and lists of text:
# a Message is kept there as its code and values in JSON between ⟪ ⟫ (ASCII inside: no ⟫ in it), and
# said in a language when shown (render, in_language). SQL writes the same form (load._said_sql).
_KEPT = re.compile(r"⟪(\{.*?\})⟫", re.S)


def kept(said: str | Message) -> str:
    """A message as text that keeps its code and values; plain text stays as it is."""
    if not isinstance(said, Message):
        return said
    return f"⟪{json.dumps(_encoded(said), ensure_ascii=True, sort_keys=True, default=_plain)}⟫"


def value_json(value: object) -> str:
    """A message's value as JSON, as :func:`kept` writes it (for SQL that builds a kept message)."""
    return json.dumps(_value(value), ensure_ascii=True, sort_keys=True, default=_plain)


def in_language(text: str, lang: str = "en") -> str:
    """Text with the messages kept in it (:func:`kept`) said in ``lang``; options still unspelled."""
    if "⟪" not in text:
        return text
    return _KEPT.sub(lambda m: _said(m, lang), text)


def _said(match: re.Match, lang: str) -> str:
    try:
        return json.loads(match[1], object_hook=_decoded).text(lang)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):  # not one of ours: as it stands
        return match[0]


def _encoded(said: Message) -> dict:
    return {"$m": said.code, "v": {name: _value(value) for name, value in said.values.items()}}


def _value(value: object) -> object:
    if isinstance(value, Message):
        return _encoded(value)
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()[:10]}
    return value


def _plain(value: object) -> object:
    """JSON for numpy's numbers (and, as text, anything else)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _decoded(obj: dict) -> object:
    if "$m" in obj:
        return Message(obj["$m"], obj.get("v") or {})
    if "$d" in obj:
        return dt.date.fromisoformat(obj["$d"])
    return obj


def listing(items: Iterable[object], limit: int = 20, quote: bool = False) -> str:
    """Items joined by commas; beyond ``limit`` the first ones and "… and N more"."""
    return str(listed(items, limit, quote))


def listed(items: Iterable[object], limit: int = 20, quote: bool = False) -> str | Message:
    """:func:`listing` as a message's value: beyond ``limit`` a Message ("… und N weitere" in German)."""
    items = [repr(str(i)) if quote else str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return message("import.and_more", items=", ".join(items[:limit]), count=len(items) - limit)


class ImportRefused(DomainError, ValueError):
    """The file as a whole cannot be imported (unreadable, no CRS, wrong CRS, bad mapping): nothing is
    written. ``field``: the option or ``file`` at fault, if one is. The reason is a :class:`Message`
    (German and English, kept as :attr:`message`) or English text; ``str()`` and :attr:`template` are
    English, as the API and the command line say it."""

    def __init__(self, reason: str | Message, field: str | None = None):
        self.message = reason if isinstance(reason, Message) else None
        super().__init__(str(reason), field)

    def __str__(self) -> str:
        return render(self.template)

    @property
    def template(self) -> str:
        """The message in English with its options unspelled."""
        return str(self.args[0]) if self.args else ""

    def text(self, lang: str = "en") -> str:
        """The refusal in ``lang``, its options unspelled."""
        return self.message.text(lang) if self.message is not None else in_language(self.template, lang)

    def render(self, spell: Spelling, lang: str = "en") -> str:
        return render(self.text(lang), spell)


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
