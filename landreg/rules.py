"""The registry's named domain predicates, each defined once.

Every output that counts, filters or colours parcels by one of these notions uses the function
here: statistics, maps, the Flächenbilanz, the plan check, the watch list, tiles and rankings.
Each predicate takes anything with the parcel's columns as attributes (the ``Parcel`` or
``ParcelVersion`` model, a subquery's ``.c``, a :func:`row` alias for text SQL) and returns an SQL
condition; :func:`sql` renders one for statements written as text.

Three figures of land that can be used mean different things and carry different names:

========================  ============================  =================================================
predicate                 label                         meaning
========================  ============================  =================================================
:func:`is_reserve`        Reserve                       not yet taken up nor lost to another use
:func:`is_available`      verfügbar (Status)            status ``verfuegbar``: the municipality offers it
:func:`is_restriction_free`  restriktionsfreie Reserve  reserve without restrictions (class 0) that is
                                                        available at some time: the numerator of the
                                                        years of supply
========================  ============================  =================================================
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import and_, column, func, or_, table
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, ColumnElement

from landreg.vocab import STATUS

#: Categories of commercial and industrial land (Gewerbe- und Industrieflächen).
INDUSTRIAL_CATEGORIES = ("gewerbeflaeche", "industrieflaeche")
#: Designations of commercial and industrial use in a plan (B-Plan, FNP, regional plan).
INDUSTRIAL_DESIGNATIONS = ("GI", "GE", "GIB", "G")
#: Uses that bring housing, so that the Abstandserlass applies to them.
RESIDENTIAL_DESIGNATIONS = ("WA", "WR", "W", "MI", "MU", "MK", "ASB")
#: Statuses of land that is still a reserve (not taken up, not lost to another use).
RESERVE_STATUSES = ("potenzial", "verfuegbar", "reserviert", "in_entwicklung")
#: The status a municipality gives land it offers now.
AVAILABLE_STATUS = "verfuegbar"
#: Taken up (reused) and lost to another use: the two ways out of the reserve.
TAKEN_UP_STATUS, LOST_STATUS = "genutzt", "andere_nutzung"
NOT_AVAILABLE = "nicht_verfuegbar"
#: Stages of the contamination record (FIS AlBo) the public flag ``contamination_flag`` stands for:
#: suspected or under investigation, one bit, not which.
SUSPECTED_CONTAMINATION = ("verdacht", "untersucht")

assert set(RESERVE_STATUSES) | {TAKEN_UP_STATUS, LOST_STATUS} == set(STATUS.codes)

#: (German, English) labels of the figures the predicates count, used by every page and table.
LABELS = {
    "reserve": ("Reserve", "Reserve"),
    "available": ("verfügbar (Status)", "available (status)"),
    "restriction_free": ("restriktionsfreie Reserve", "restriction-free reserve"),
}


def label(figure: str, lang: str = "de") -> str:
    de, en = LABELS[figure]
    return en if lang == "en" else de


def contamination_suspected(p) -> ColumnElement:
    """The public flag ``contamination_flag`` (Altlastverdacht) from the confidential record."""
    return func.coalesce(p.contamination.in_(SUSPECTED_CONTAMINATION), False)


def is_industrial(p) -> ColumnElement:
    """Commercial or industrial land: by category, or by a commercial/industrial designation."""
    return or_(p.category.in_(INDUSTRIAL_CATEGORIES), p.designation.in_(INDUSTRIAL_DESIGNATIONS))


def is_industrial_category(p) -> ColumnElement:
    return p.category.in_(INDUSTRIAL_CATEGORIES)


def is_reserve(p) -> ColumnElement:
    """Still a reserve: neither taken up nor lost to another use."""
    return p.status.in_(RESERVE_STATUSES)


def is_available(p) -> ColumnElement:
    """Offered now: the status ``verfuegbar`` ("verfügbar (Status)")."""
    return p.status == AVAILABLE_STATUS


def is_restriction_free(p) -> ColumnElement:
    """Reserve without restrictions (class 0 or none recorded) that is available at some time
    ("restriktionsfreie Reserve"): what the years of supply divide by the take-up."""
    return and_(
        is_reserve(p),
        func.coalesce(p.restriction_class, 0) == 0,
        func.coalesce(p.availability, "") != NOT_AVAILABLE,
    )


def is_offered(p) -> ColumnElement:
    """What the investors' site map shows: reserve that is potential or available (not reserved for
    someone nor under development) with a known time of availability."""
    return and_(
        p.status.in_(("potenzial", AVAILABLE_STATUS)),
        p.availability.in_(("kurzfristig", "mittelfristig", "langfristig")),
    )


#: The three figures of land that can be used, by name (the keys of :data:`LABELS`): what each counts.
#: Outputs name a figure's area ``<name>_area_m2``/``_ha`` or ``<name>_ha`` and show its label.
FIGURES = {"reserve": is_reserve, "available": is_available, "restriction_free": is_restriction_free}
assert set(FIGURES) == set(LABELS)


def is_industrial_designation(p) -> ColumnElement:
    """Designated for commercial or industrial use in a plan (B-Plan, FNP, regional plan)."""
    return p.designation.in_(INDUSTRIAL_DESIGNATIONS)


def is_taken_up(p) -> ColumnElement:
    """Reused: the status ``genutzt``, one way out of the reserve (the take-up of the Flächenbilanz)."""
    return p.status == TAKEN_UP_STATUS


def is_lost(p) -> ColumnElement:
    """Lost to another use: the status ``andere_nutzung``, the other way out of the reserve."""
    return p.status == LOST_STATUS


def code_choices(predicate) -> dict[str, tuple[str, ...]]:
    """A predicate that is a choice of codes per field (``a IN (…) AND b = …``) as {field: codes}, for
    filters not written in SQL (a map's CQL2 filter, a form's choices); ValueError for any other."""
    expression = predicate(row())
    is_and = isinstance(expression, BooleanClauseList) and expression.operator is operators.and_
    choices: dict[str, tuple[str, ...]] = {}
    for part in expression.clauses if is_and else [expression]:
        if not (
            isinstance(part, BinaryExpression)
            and part.operator in (operators.in_op, operators.eq)
            and isinstance(part.right, BindParameter)
            and part.left.name not in choices
        ):
            raise ValueError(f"{predicate.__name__} is not a choice of codes per field")
        value = part.right.value
        choices[part.left.name] = tuple(value) if part.operator is operators.in_op else (value,)
    return choices


@cache
def row(alias: str = "p"):
    """A stand-in for a parcel row named ``alias`` in a statement written as text."""
    return table(
        alias, column("category"), column("designation"), column("status"), column("restriction_class"),
        column("availability"),
    ).c  # fmt: skip


def sql(predicate, alias: str = "p") -> str:
    """The predicate as SQL text on the parcel row ``alias``, in parentheses (so that it combines with
    ``AND``/``NOT`` as written); its values are the code's constants."""
    expression = predicate(row(alias))
    return f"({expression.compile(dialect=postgresql.dialect(), compile_kwargs={'literal_binds': True})})"
