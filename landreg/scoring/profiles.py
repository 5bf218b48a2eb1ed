"""Scoring profiles: which criteria count how much, for whom. Stored in the database, versioned.

A profile's definition (JSON)::

    {"method": "weighted_sum",                 # or "topsis"
     "categories": ["brachflaeche"],            # which parcels it ranks (empty: all)
     "criteria": {"availability": {"weight": 2},
                  "size": {"weight": 1, "function": {"type": "linear", "worst": 1, "best": 10}}},
     "exclusions": ["flood_zone", "owner_objection"],
     "abstand_class": "III"}                    # for the Abstandserlass criterion

Weights are normalised to sum 1 when saved (the stored definition says so). Saving a changed
definition under an existing name creates the next version; scores name the version they came from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from landreg.errors import VersionConflict
from landreg.scoring.criteria import ABSTAND_CLASSES, CATALOGUE, EXCLUSIONS, CriterionError, ValueFunction
from landreg.vocab import CATEGORY

METHODS = ("weighted_sum", "topsis")


class ProfileError(ValueError):
    """A profile or its definition refused; ``field`` names the input at fault, if one is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    version: int
    title: str
    purpose: str
    method: str
    categories: tuple[str, ...]
    weights: dict[str, float]  # normalised, sum 1
    functions: dict[str, dict]  # value function per criterion
    exclusions: tuple[str, ...]
    abstand_class: str

    @classmethod
    def from_row(cls, row) -> Profile:
        d = row.definition if isinstance(row.definition, dict) else json.loads(row.definition)
        return cls(
            row.id,
            row.name,
            row.version,
            row.title,
            row.purpose,
            row.method,
            tuple(d["categories"]),
            {k: v["weight"] for k, v in d["criteria"].items()},
            {k: v["function"] for k, v in d["criteria"].items()},
            tuple(d["exclusions"]),
            d["abstand_class"],
        )


def validate_definition(definition: dict) -> tuple[dict, list[str]]:
    """The definition as stored (weights normalised, defaults filled in) and notes for the user."""
    if not isinstance(definition, dict):
        raise ProfileError("a profile definition is a JSON object")
    notes: list[str] = []
    method = definition.get("method", "weighted_sum")
    if method not in METHODS:
        raise ProfileError(f"unknown method {method!r}; use {' or '.join(METHODS)}")
    categories = list(definition.get("categories") or [])
    for c in categories:
        if c not in CATEGORY.codes:
            raise ProfileError(f"unknown category {c!r}; categories are {', '.join(CATEGORY.codes)}")
    criteria = definition.get("criteria")
    if not isinstance(criteria, dict) or not criteria:
        raise ProfileError("a profile needs at least one criterion with a weight")
    checked: dict[str, dict] = {}
    for key, spec in criteria.items():
        if key not in CATALOGUE:
            raise ProfileError(f"unknown criterion {key!r}; criteria are {', '.join(CATALOGUE)}")
        weight = spec.get("weight") if isinstance(spec, dict) else spec
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ProfileError(f"criterion {key}: the weight must be a number of 0 or more, not {weight!r}")
        function = spec.get("function") if isinstance(spec, dict) else None
        try:
            function = ValueFunction.check(function or CATALOGUE[key].function, f"criterion {key}")
        except CriterionError as exc:
            raise ProfileError(str(exc)) from None
        checked[key] = {"weight": float(weight), "function": function}
    total = sum(c["weight"] for c in checked.values())
    if total <= 0:
        raise ProfileError("the weights add up to 0: give at least one criterion a positive weight")
    if abs(total - 1) > 1e-9:
        notes.append(f"weights added up to {total:g}; they were normalised to sum 1")
        for c in checked.values():
            c["weight"] = c["weight"] / total
    exclusions = list(definition.get("exclusions") or [])
    for e in exclusions:
        if e not in EXCLUSIONS:
            raise ProfileError(f"unknown exclusion {e!r}; exclusions are {', '.join(EXCLUSIONS)}")
    abstand_class = definition.get("abstand_class", "V")
    if abstand_class not in ABSTAND_CLASSES:
        raise ProfileError(f"unknown Abstandserlass class {abstand_class!r}; classes are I to VII")
    return {
        "method": method,
        "categories": categories,
        "criteria": checked,
        "exclusions": exclusions,
        "abstand_class": abstand_class,
    }, notes


#: The longest name, title and purpose of a profile (characters).
NAME_MAX, TITLE_MAX, PURPOSE_MAX = 100, 200, 2_000
#: The advisory lock class of saving a profile (the second key: the hash of its name).
_SAVE_LOCK = 0x1A4D


def _check_text(value: object, name: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{name}: give a text", name)
    if len(value) > limit:
        raise ProfileError(f"{name}: {len(value):,} characters; at most {limit:,}", name)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise ProfileError(f"{name}: control characters (such as NUL) cannot be stored; remove them", name)


def save_profile(
    conn: Connection,
    name: str,
    title: str,
    purpose: str,
    definition: dict,
    actor: str,
    based_on: int | None = None,
) -> tuple[Profile, list[str]]:
    """Store a profile; a changed definition becomes the next version, an unchanged one is kept.

    Saves of one profile take turns (an advisory lock on its name): two at once would both take the
    same next version. ``based_on``: the version the caller edited; when another version has been
    saved since, VersionConflict instead of overwriting it unseen."""
    for value, field, limit in (
        (name, "name", NAME_MAX),
        (title, "title", TITLE_MAX),
        (purpose, "purpose", PURPOSE_MAX),
    ):
        _check_text(value, field, limit)
    stored, notes = validate_definition(definition)
    conn.execute(text("SELECT pg_advisory_xact_lock(:class, hashtext(:name))"), {"class": _SAVE_LOCK, "name": name})
    current = current_profile(conn, name, missing_ok=True)
    if based_on is not None and (current.version if current else 0) != based_on:
        saved = current.version if current else 0
        raise VersionConflict(
            f"profile {name!r} has been saved as version {saved} since version {based_on} was opened: "
            "open it again and redo the change",
            saved,
        )
    if current and (current.title, current.purpose) == (title, purpose) and _definition_of(conn, current.id) == stored:
        return current, notes + [f"unchanged: still version {current.version}"]
    row = conn.execute(
        text("""
        INSERT INTO scoring_profile (name, version, title, purpose, method, definition, created_by)
        VALUES (:name, coalesce((SELECT max(version) FROM scoring_profile WHERE name = :name), 0) + 1,
                :title, :purpose, :method, CAST(:definition AS jsonb), :actor)
        RETURNING *
    """),
        {
            "name": name,
            "title": title,
            "purpose": purpose,
            "method": stored["method"],
            "definition": json.dumps(stored),
            "actor": actor,
        },
    ).one()
    return Profile.from_row(row), notes


def _definition_of(conn: Connection, profile_id: int) -> dict:
    return conn.execute(text("SELECT definition FROM scoring_profile WHERE id = :id"), {"id": profile_id}).scalar_one()


def current_profile(conn: Connection, name: str, missing_ok: bool = False) -> Profile | None:
    row = conn.execute(
        text("""
        SELECT * FROM scoring_profile WHERE name = :name ORDER BY version DESC LIMIT 1
    """),
        {"name": name},
    ).one_or_none()
    if row is None:
        if missing_ok:
            return None
        names = ", ".join(conn.execute(text("SELECT DISTINCT name FROM scoring_profile ORDER BY 1")).scalars())
        raise ProfileError(f"no scoring profile {name!r}; profiles are: {names or 'none yet'}")
    return Profile.from_row(row)


def profile_version(conn: Connection, name: str, version: int) -> Profile:
    row = conn.execute(
        text("SELECT * FROM scoring_profile WHERE name = :name AND version = :version"),
        {"name": name, "version": version},
    ).one_or_none()
    if row is None:
        raise ProfileError(f"scoring profile {name!r} has no version {version}")
    return Profile.from_row(row)


def current_profiles(conn: Connection) -> list[Profile]:
    rows = conn.execute(
        text("""
        SELECT DISTINCT ON (name) * FROM scoring_profile ORDER BY name, version DESC
    """)
    ).all()
    return [Profile.from_row(r) for r in rows]


#: The three profiles every registry starts with (weights *assumed*, see DOMAIN.md).
DEFAULT_PROFILES = {
    "ministerium-revitalisierung": (
        "Revitalisierung (Ministerium)",
        "Which brownfields to revitalise first: low risk, secured planning, good transit, available soon",
        {
            "method": "weighted_sum",
            "categories": ["brachflaeche"],
            "criteria": {
                "contamination": 0.15,
                "restriction_class": 0.15,
                "availability": 0.10,
                "planning_status": 0.10,
                "servicing": 0.10,
                "size": 0.10,
                "rail_station": 0.10,
                "transit": 0.15,
                "owner_willing": 0.05,
            },
            "exclusions": ["flood_zone", "protected_area"],
        },
    ),
    "investor-industrie": (
        "Industriestandort (Investor)",
        "Large, available, unrestricted sites with motorway and port access for industry and logistics",
        {
            "method": "weighted_sum",
            "categories": ["gewerbeflaeche", "industrieflaeche", "brachflaeche"],
            "criteria": {
                "size": 0.20,
                "availability": 0.20,
                "restriction_class": 0.15,
                "motorway": 0.10,
                "port": 0.05,  # inland ports: trimodal logistics (bundled GISCO layer, where it covers)
                "servicing": 0.10,
                "planning_status": 0.10,
                "owner_willing": 0.05,
                "ownership": 0.05,
            },
            "exclusions": ["flood_zone", "owner_objection"],
            "abstand_class": "IV",
        },
    ),
    "wohnen-bauluecken": (
        "Wohnen in Baulücken",
        "Infill lots for housing: well served by public transport, available, owner willing",
        {
            "method": "weighted_sum",
            "categories": ["bauluecke"],
            "criteria": {
                "transit": 0.30,
                "rail_station": 0.15,
                "availability": 0.20,
                "owner_willing": 0.15,
                "servicing": 0.10,
                "planning_status": 0.10,
            },
            "exclusions": ["flood_zone", "protected_area", "owner_objection"],
        },
    ),
}


def ensure_default_profiles(conn: Connection, actor: str = "landreg") -> list[Profile]:
    """Create the default profiles that do not exist yet (existing ones are left as users tuned them)."""
    created = []
    for name, (title, purpose, definition) in DEFAULT_PROFILES.items():
        if current_profile(conn, name, missing_ok=True) is None:
            created.append(save_profile(conn, name, title, purpose, definition, actor)[0])
    return created
