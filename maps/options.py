"""What a map shows: the filters and choices a user makes, the same from a URL or the command line.

The parcel filters become one CQL2 expression (pygeofilter's syntax tree): translated to SQL for
embedded maps, and sent as ``filter`` to the vector tile endpoint for tiled maps, so both kinds
show exactly the same parcels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pygeofilter import ast

from landreg import vocab
from maps.texts import LANGS


class OptionError(ValueError):
    """An option is invalid; the message names it and what is allowed."""


@dataclass
class MapOptions:
    lang: str = "de"
    category: list[str] = field(default_factory=list)
    availability: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    ags: list[str] = field(default_factory=list)
    min_area: float | None = None
    max_area: float | None = None
    profile: str | None = None  # scoring profile (priority colours, popups)
    top: int = 20  # Prioritätenkarte: how many parcels the list shows
    metric: str = "available_ha"  # Gemeindeübersicht: available_ha, restriction_free_ha, reserve_ha, years_of_supply
    plan_check: int | None = None  # Flächensicherungskarte: show this recorded plan check
    lat: float | None = None  # start view; default: the selection's extent
    lon: float | None = None
    zoom: int | None = None

    def check(self) -> MapOptions:
        if self.lang not in LANGS:
            raise OptionError(f"lang: {self.lang!r} is not one of {', '.join(LANGS)}")
        for name, codes in (
            ("category", vocab.CATEGORY),
            ("availability", vocab.AVAILABILITY),
            ("status", vocab.STATUS),
        ):
            unknown = [v for v in getattr(self, name) if v not in codes.codes]
            if unknown:
                raise OptionError(f"{name}: unknown {', '.join(unknown)}; known: {', '.join(codes.codes)}")
        bad = [a for a in self.ags if not (len(a) == 8 and a.isdigit())]
        if bad:
            raise OptionError(f"ags: {', '.join(bad)} is not an 8-digit Gemeindeschlüssel")
        if self.min_area is not None and self.max_area is not None and self.min_area > self.max_area:
            raise OptionError("min_area is larger than max_area")
        if not 1 <= self.top <= 500:
            raise OptionError("top: between 1 and 500")
        if self.zoom is not None and not 0 <= self.zoom <= 22:
            raise OptionError("zoom: between 0 and 22")
        if (self.lat is None) != (self.lon is None):
            raise OptionError("lat and lon go together")
        return self

    def parcel_filter(self, defaults: dict[str, Sequence[str]] | None = None):
        """The filter as a CQL2 syntax tree (None: all parcels). ``defaults`` fill unset code filters."""
        parts = []
        for name in ("category", "availability", "status"):
            chosen = getattr(self, name) or (defaults or {}).get(name, [])
            if chosen:
                parts.append(ast.In(ast.Attribute(name), list(chosen), False))
        if self.ags:
            parts.append(ast.In(ast.Attribute("ags"), list(self.ags), False))
        if self.min_area is not None:
            parts.append(ast.GreaterEqual(ast.Attribute("area_m2"), float(self.min_area)))
        if self.max_area is not None:
            parts.append(ast.LessEqual(ast.Attribute("area_m2"), float(self.max_area)))
        node = None
        for part in parts:
            node = part if node is None else ast.And(node, part)
        return node
