"""Shared pieces of the calendar importers: the error type and the validating layer builder."""
from __future__ import annotations

import re
from datetime import date, timedelta

from .layers import DAY_KINDS, CalendarLayer, DayKind, DayRule

MAX_FILE_BYTES = 1024 * 1024
MAX_RANGE_DAYS = 366
MIN_YEAR, MAX_YEAR = 1949, 2200
_REGION_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]*$")


class CalendarImportError(ValueError):
    """A calendar file could not be imported: which file, which line (None if unknown), why."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file = file
        self.line = line
        self.problem = problem
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {problem}")


class ErrorFactory:
    """Makes `CalendarImportError`s for one file."""

    def __init__(self, file: str) -> None:
        self.file = file

    def __call__(self, line: int | None, problem: str) -> CalendarImportError:
        return CalendarImportError(self.file, line, problem)


def parse_kind(raw: str, error: ErrorFactory, line: int | None) -> DayKind:
    """`off` or `work` (case-insensitive, surrounding spaces ignored)."""
    kind = raw.strip().lower()
    if kind not in DAY_KINDS:
        raise error(line, f"未知的 kind: {raw!r}，只能是 off 或 work (unknown kind)")
    return kind  # type: ignore[return-value]


def parse_year(raw: str, error: ErrorFactory, line: int | None) -> int:
    """A plausible calendar year written as digits."""
    text = raw.strip()
    if not re.fullmatch(r"[0-9]{4}", text) or not MIN_YEAR <= int(text) <= MAX_YEAR:
        raise error(line, f"年份无效: {raw!r} (bad year, expected {MIN_YEAR}-{MAX_YEAR})")
    return int(text)


def parse_region(raw: str, error: ErrorFactory, line: int | None) -> str:
    """An org-unit code: letters, digits, `_`, `.`, `-`."""
    text = raw.strip()
    if not _REGION_CODE.match(text):
        raise error(line, f"region 不是有效的机构代码: {raw!r} (bad org-unit code)")
    return text


class LayerBuilder:
    """Accumulates day rules from a file, rejecting contradictions, then builds the layer.

    A date listed twice with the same kind keeps its first name; a date listed as both off and
    work is an error naming both lines.
    """

    def __init__(self, error: ErrorFactory) -> None:
        self.error = error
        self._rules: dict[date, DayRule] = {}
        self._lines: dict[date, int | None] = {}

    def add_day(self, day: date, kind: DayKind, name: str, line: int | None) -> None:
        existing = self._rules.get(day)
        if existing is None:
            self._rules[day] = DayRule(day, kind, name)
            self._lines[day] = line
        elif existing.kind != kind:
            raise self.error(line, f"{day} 同时被标为休息日和工作日（另见第 {self._lines[day]} 行）"
                                   f" (day marked both off and work)")

    def add_range(self, first: date, last: date, kind: DayKind, name: str,
                  line: int | None) -> None:
        """Every date from `first` to `last`, both included."""
        if last < first:
            raise self.error(line, f"日期范围颠倒: {first} 晚于 {last} (range reversed)")
        span = (last - first).days + 1
        if span > MAX_RANGE_DAYS:
            raise self.error(line, f"日期范围过长: {span} 天，最多 {MAX_RANGE_DAYS} 天 (range too long)")
        for offset in range(span):
            self.add_day(first + timedelta(days=offset), kind, name, line)

    def build(self, *, source: str, official: bool, region: str | None,
              years: set[int], line: int | None) -> CalendarLayer:
        """The layer; an official national schedule must say which years it covers."""
        if not source.strip():
            raise self.error(line, "缺少 source：请写明数据来源（如通知标题） (missing field: source)")
        if official and region is None and not years:
            raise self.error(line, "全国官方安排必须列出所覆盖的 years (official national layer "
                                   "needs years)")
        return CalendarLayer(region=region, source=source.strip(), official=official,
                             rules=dict(sorted(self._rules.items())), years=set(years))


def parse_iso_date(raw: str, error: ErrorFactory, line: int | None) -> date:
    """A date written YYYY-MM-DD, validated."""
    text = raw.strip()
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise error(line, f"日期无效: {raw!r}，应为 YYYY-MM-DD (bad date)")


def parse_compact_date(raw: str, error: ErrorFactory, line: int | None) -> date:
    """An iCalendar DATE value, YYYYMMDD."""
    text = raw.strip()
    if re.fullmatch(r"[0-9]{8}", text):
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass
    raise error(line, f"日期无效: {raw!r}，应为全天日期 YYYYMMDD (bad date)")
