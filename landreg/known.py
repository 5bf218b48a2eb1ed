"""Parameters that name something the register must know: municipalities by their AGS, categories by
their code. An unknown one is refused naming the parameter, so that a misspelt name never gets a
confident answer of nothing (an empty ranking, a balance of zeros)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from landreg.errors import InvalidParameter
from landreg.vocab import CATEGORY

#: Municipalities named in one parameter at most (NRW has 396).
MUNICIPALITIES_MAX = 400


def check_categories(values: Sequence[str], name: str = "category") -> tuple[str, ...]:
    """The category codes, or InvalidParameter naming the first unknown one."""
    for value in values:
        if value not in CATEGORY.codes:
            raise InvalidParameter(
                f"{name}: {value[:40]!r} is not a category; give one or more of {', '.join(CATEGORY.codes)}", name
            )
    return tuple(values)


def check_municipalities(conn: Connection, values: Sequence[str], name: str = "ags") -> tuple[str, ...]:
    """The AGS of municipalities in the register, or InvalidParameter naming those that are not."""
    if len(values) > MUNICIPALITIES_MAX:
        raise InvalidParameter(f"{name}: {len(values):,} municipalities, at most {MUNICIPALITIES_MAX}", name)
    known = set(conn.execute(text("SELECT ags FROM municipality WHERE ags = ANY(:a)"), {"a": list(values)}).scalars())
    unknown = [v for v in values if v not in known]
    if unknown:
        shown = ", ".join(repr(v[:20]) for v in unknown[:5])
        raise InvalidParameter(
            f"{name}: {shown} {'is' if len(unknown) == 1 else 'are'} not the Gemeindeschlüssel (AGS, 8 digits, "
            "e.g. 05113000 for Essen) of a municipality in the register",
            name,
        )
    return tuple(values)
