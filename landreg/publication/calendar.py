"""The objection period of a § 200 (3) BauGB notice, by the German civil code's rules on periods.

The notice is announced on a day (the event, § 187 (1) BGB: that day does not count); a period of
one month ends with the day of the next month that has the same number (§ 188 (2) BGB), or with
the month's last day where it has none (§ 188 (3) BGB: announced 31 January, ends 28/29 February);
a period whose last day is a Saturday, Sunday or public holiday at the place ends on the next
working day (§ 193 BGB; public holidays of North Rhine-Westphalia from the ``holidays`` package).
The parcels the notice covers are public from the day after the period's end.
"""

from __future__ import annotations

import calendar
import datetime as dt
from functools import cache

import holidays

#: The Land whose public holidays count (§ 193 BGB: those at the place of performance).
SUBDIVISION = "NW"


@cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.Germany(subdiv=SUBDIVISION, years=year)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_months(day: dt.date, months: int) -> dt.date:
    """The day with the same number ``months`` later, or that month's last day (§ 188 (2), (3) BGB)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def objection_period_end(announced_on: dt.date, months: int = 1) -> dt.date:
    """The last day on which an owner may object to a notice announced on ``announced_on``."""
    end = add_months(announced_on, months)
    while not is_working_day(end):
        end += dt.timedelta(days=1)
    return end
