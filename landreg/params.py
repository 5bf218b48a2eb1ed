"""Reading parameters as text (from a URL, a form or the command line) into checked values.

Every reader raises :class:`~landreg.errors.InvalidParameter` naming the parameter, what was
given and what would be accepted, before any value reaches SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from landreg.errors import InvalidParameter
from landreg.features import CRS84, CRSS
from landreg.messages import message


def crs(uri: str | None, name: str = "crs") -> tuple[int, bool]:
    """(SRID, latitude first) of a CRS URI; CRS84 when none is given."""
    uri = uri or CRS84
    if uri not in CRSS:
        raise InvalidParameter(f"{name} {uri!r} is not supported; use one of {', '.join(CRSS)}", name)
    return CRSS[uri]


def crs_uri(srid: int, flip: bool) -> str:
    return next(uri for uri, value in CRSS.items() if value == (srid, flip))


def whole_number(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameter(message("param.whole_number", name=name, value=value[:40]), name) from None
    if not low <= number <= high:
        raise InvalidParameter(message("param.range", name=name, low=low, high=high), name)
    return number


def instant(value: str | None, name: str = "datetime") -> dt.datetime | None:
    """An RFC 3339 date-time, or a date (meaning its end); intervals are refused."""
    if value is None:
        return None
    if "/" in value:
        raise InvalidParameter(
            f"{name}: parcels are answered as of one instant (e.g. 2025-01-01T00:00:00Z); intervals are not supported",
            name,
        )
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(23, 59, 59, 999999))
        except ValueError:
            raise InvalidParameter(f"{name} {value!r} is not an RFC 3339 date or date-time", name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def bbox(value: str | None, name: str = "bbox") -> list[float] | None:
    """4 or 6 finite numbers, minimum before maximum on each axis."""
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidParameter(f"{name} {value!r} must be 4 or 6 comma-separated numbers", name) from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter(f"{name} {value!r} must be 4 or 6 comma-separated finite numbers", name)
    return numbers


def names(value: str | None, known, name: str) -> list[str] | None:
    """A comma-separated list of names, each one of ``known``."""
    if value is None:
        return None
    listed = [p for p in value.split(",") if p]
    unknown = [p for p in listed if p not in known]
    if unknown:
        raise InvalidParameter(f"{name}: unknown {', '.join(unknown)}; known: {', '.join(known)}", name)
    return listed


def typed(python_type: type, value: str, name: str):
    """A parameter's text as ``python_type`` (bool, int, float, date, date-time or text)."""
    try:
        if python_type is bool:
            return {"true": True, "false": False}[value.lower()]
        if python_type in (dt.date, dt.datetime):
            return python_type.fromisoformat(value)
        if python_type is int:
            number = int(value)
            if not -(2**31) <= number < 2**31:
                raise ValueError
            return number
        if python_type is float:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        return python_type(value)
    except (KeyError, ValueError):
        raise InvalidParameter(f"{name}={value!r} is not a valid {python_type.__name__}", name) from None


def expected_versions(if_match: str | None) -> frozenset[int] | str | None:
    """The versions an If-Match header accepts: ``"*"``, a set of versions, or None when absent.

    ``If-Match: "3"`` and ``If-Match: "2", "3"`` (a list, RFC 9110) are read; a weak tag or
    anything that is not one of this registry's ETags matches no version."""
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return "*"
    versions = set()
    for tag in if_match.split(","):
        tag = tag.strip()
        if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit():
            versions.add(int(tag[1:-1]))
    return frozenset(versions)


def etag(version: int) -> str:
    return f'"{version}"'


def content_etag(body: bytes) -> str:
    """A weak ETag of what a response shows, for callers who may not see the version (it counts
    confidential edits too): it changes only when what they see changes. Never matches If-Match."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
