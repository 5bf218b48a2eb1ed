"""The register's day: the date in Germany (Europe/Berlin), defined once.

Every date rule (a notice's objection period ending, a parcel becoming public, a Stand being
12 months old, the Flächenbilanz "up to today") asks :func:`today` in Python or puts
:func:`sql_today` into a query: never the server's local date or the database's ``current_date``,
which follow the time zones of the machines and differ from the German day for an hour or two
around midnight (a parcel would turn public at 01:00 on one worker and at 00:00 on another).

``LANDREG_TODAY`` fixes the day (tests, which must not see it change at midnight during a run;
demonstrations). Unset in production.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Date, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from landreg.settings import get_settings

REGISTER_TIME_ZONE = ZoneInfo("Europe/Berlin")
#: The parameter that carries the day into statements built once as SQL text (:mod:`landreg.sqltext`).
PARAMETER = "register_today"
#: Compile option for SQL text built anew for each query: the day goes into the text.
INLINE = "register_day_inline"


def today() -> dt.date:
    """The register's day now."""
    return get_settings().today or dt.datetime.now(REGISTER_TIME_ZONE).date()


class _Today(ColumnElement):
    """The register's day, a bound parameter evaluated at each execution (``callable_``), so a
    statement containing it can be compiled once and its compiled form reused (no attributes of
    its own: the cache key is the class)."""

    type = Date()
    inherit_cache = True
    _traverse_internals = []


@compiles(_Today)
def _compile_today(element: _Today, compiler, **kw) -> str:
    if kw.get(INLINE):  # SQL text built for one query: the day itself (a date, never user input)
        return f"DATE '{today().isoformat()}'"
    if kw.get("literal_binds"):  # a statement kept as text: :func:`landreg.sqltext.run` passes the day
        return f"CAST(%({PARAMETER})s AS date)"
    return compiler.process(bindparam(PARAMETER, callable_=today, type_=Date), **kw)


def sql_today() -> ColumnElement:
    """The register's day in a query, taken when the query runs (also when its text is kept)."""
    return _Today()
