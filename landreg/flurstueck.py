"""The keys ALKIS gives a Flurstück and its municipality, in the one form the registry stores.

A **Flurstückskennzeichen** has 20 characters, as NAS and the AdV product "ALKIS vereinfacht"
write it: Land (2), Gemarkung (4), Flur (3), Zähler (5), Nenner (4) and Flurstücksfolge (2), the
numbers zero-padded, a missing Nenner or Folge written as underscores::

    05329001100085______   Land 05, Gemarkung 3290, Flur 011, Flurstück 85
    053290011000850002__   the same Flur, Flurstück 85/2

A parcel covering several Flurstücke lists them sorted and comma-separated (the parcel field
``flurstueckskennzeichen``). Because every key is 20 characters long, the CQL2 filter
``flurstueckskennzeichen LIKE '%05329001100085\\_\\_\\_\\_\\_\\_%'`` matches exactly the parcels
covering that Flurstück (``_`` is LIKE's any-character: escaped, it matches only itself).

The **Gemeindekennzeichen** of ``gemeindezugehoerigkeit`` (Land, Regierungsbezirk, Kreis,
Gemeinde) is the 8-digit AGS: ``05`` ``1`` ``13`` ``000`` is 05113000 Essen.

Pure functions without database or file access; :class:`ValueError` says what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

#: One key in its stored form.
KEY = r"[0-9]{14}[0-9_]{6}"
#: The stored form of a parcel's keys (the database checks the same pattern, migration 0021).
KEYS_PATTERN = rf"^{KEY}(,{KEY})*$"
EXAMPLE = "05329001100085______"
#: Keys one parcel may list (a parcel of a few hundred Flurstücke is already unusual).
MAX_KEYS = 500

_KEY = re.compile(KEY)
_WITHOUT_NENNER = re.compile(r"[0-9]{14}")  # padding left out by a spreadsheet
_WITHOUT_FOLGE = re.compile(r"[0-9]{14}[0-9_]{4}")
# written by people: Land-Gemarkung-Flur-Zähler[/Nenner], e.g. 05-3290-11-85/2
_READABLE = re.compile(r"([0-9]{2})-([0-9]{4})-([0-9]{1,3})-([0-9]{1,5})(?:/([0-9]{1,4}))?")
_SEPARATORS = re.compile(r"[,;\s]+")


def key(text: str) -> str:
    """One Flurstückskennzeichen in its stored form (20 characters); ValueError when it is none."""
    value = str(text).strip()
    if _KEY.fullmatch(value):
        return value
    if _WITHOUT_NENNER.fullmatch(value):
        return value + "______"
    if _WITHOUT_FOLGE.fullmatch(value):
        return value + "__"
    readable = _READABLE.fullmatch(value)
    if readable:
        land, gemarkung, flur, zaehler, nenner = readable.groups()
        return f"{land}{gemarkung}{flur.zfill(3)}{zaehler.zfill(5)}{nenner.zfill(4) if nenner else '____'}__"
    shown = value if len(value) <= 40 else value[:40] + "…"
    raise ValueError(
        f"{shown!r} is not a Flurstückskennzeichen: expected the 20 characters ALKIS writes, e.g. {EXAMPLE} "
        "(Land 05, Gemarkung 3290, Flur 011, Zähler 00085, no Nenner), or Land-Gemarkung-Flur-Zähler/Nenner "
        "such as 05-3290-11-85/2"
    )


def keys(values: str | Iterable[Any]) -> list[str]:
    """Sorted distinct keys of a text (separated by commas, semicolons or spaces) or of a list."""
    parts = _SEPARATORS.split(values) if isinstance(values, str) else [str(v) for v in values]
    found = sorted({key(p) for p in parts if p and p.strip()})
    if len(found) > MAX_KEYS:
        raise ValueError(f"{len(found):,} Flurstückskennzeichen; a parcel lists at most {MAX_KEYS}")
    return found


def joined(values: str | Iterable[Any]) -> str | None:
    """The stored form of a parcel's keys: sorted, distinct, comma-separated; None for none."""
    return ",".join(keys(values)) or None


def readable(stored: str) -> str:
    """A key as people write it: 05329001100085______ -> 05-3290-11-85, …0002__ -> …-85/2."""
    land, gemarkung, flur, zaehler, nenner = stored[:2], stored[2:6], stored[6:9], stored[9:14], stored[14:18]
    text = f"{land}-{gemarkung}-{int(flur)}-{int(zaehler)}"
    return text + (f"/{int(nenner)}" if nenner.strip("_") else "")


def _digits(value: Any, width: int, name: str) -> str | None:
    """A part of the Gemeindekennzeichen as zero-padded digits (GDAL may read it as a number)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+\.0+", text):
        text = text.split(".")[0]
    if text == "":
        return None
    number = str(int(text)) if text.isdigit() else text
    if not number.isdigit() or len(number) > width:
        raise ValueError(f"gemeindezugehoerigkeit: {name} {value!r} is not a number of at most {width} digits")
    return number.zfill(width)


def ags(land: Any, regierungsbezirk: Any, kreis: Any, gemeinde: Any) -> str | None:
    """The 8-digit AGS of a Gemeindekennzeichen; None when it is absent, ValueError when incomplete."""
    parts = {
        "land": _digits(land, 2, "land"),
        "regierungsbezirk": _digits(regierungsbezirk, 1, "regierungsbezirk"),
        "kreis": _digits(kreis, 2, "kreis"),
        "gemeinde": _digits(gemeinde, 3, "gemeinde"),
    }
    missing = [name for name, part in parts.items() if part is None]
    if len(missing) == len(parts):
        return None
    if missing:
        raise ValueError(f"gemeindezugehoerigkeit is incomplete: {', '.join(missing)} missing")
    return "".join(parts.values())
