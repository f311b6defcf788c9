"""Chinese working days and the deadlines counted on them ("remote consult within 2 working days").

Pure domain logic: no database, no web framework, no I/O at import time, no wall clock.

* `Calendar` (workdays.py): day classification for an org unit, from layers (layers.py) stacked on
  the national base (national.py: `chinese_calendar` where official data exists, a provisional
  projection from `holidays` otherwise); deadline arithmetic (deadlines.py).
* `load_layer` (importer.py): YAML / iCalendar imports of official national schedules and
  regional layers; format in docs/calendar-format.md.
* `missing_official_year_warning` (notices.py): remind administrators to import next year.

Typical use::

    calendar = Calendar([load_layer("national-2027.yaml"), load_layer("jiangyou.yaml")])
    county = calendar.for_region(["510000", "510700", "510781"])
    deadline = county.add_workdays(clock.now(), 2)   # Deadline(at, provisional, source)
"""
from .deadlines import Deadline
from .import_support import CalendarImportError
from .importer import load_layer
from .layers import CalendarLayer, DayInfo, DayKind, DayRule
from .national import OFFICIAL_SOURCE, PROJECTION_SOURCE
from .notices import missing_official_year_warning
from .workdays import DEFAULT_CLOSE_TIME, DEFAULT_OPEN_TIME, DEFAULT_TIME_ZONE, Calendar

__all__ = [
    "Calendar",
    "CalendarImportError",
    "CalendarLayer",
    "DayInfo",
    "DayKind",
    "DayRule",
    "Deadline",
    "DEFAULT_CLOSE_TIME",
    "DEFAULT_OPEN_TIME",
    "DEFAULT_TIME_ZONE",
    "OFFICIAL_SOURCE",
    "PROJECTION_SOURCE",
    "load_layer",
    "missing_official_year_warning",
]
