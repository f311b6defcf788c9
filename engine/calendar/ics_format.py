"""The iCalendar (RFC 5545) calendar format, parsed here without a dependency.

Only what a holiday calendar needs is read (see docs/calendar-format.md):

* calendar properties: `X-CAREPATH-SOURCE` (or `X-WR-CALNAME`) -> source, `X-CAREPATH-OFFICIAL`
  (TRUE/FALSE, default FALSE), `X-CAREPATH-REGION` (org-unit code, default national),
  `X-CAREPATH-YEARS` (comma-separated years);
* each VEVENT: `DTSTART;VALUE=DATE:YYYYMMDD`, optional `DTEND;VALUE=DATE` (exclusive, default
  the day after DTSTART) or `DURATION:PnD`, `SUMMARY` (the day's name), optional
  `X-CAREPATH-KIND:work|off`. Without X-CAREPATH-KIND, a SUMMARY containing 补班 or 上班 (e.g.
  调休上班) marks working days and anything else days off.

Folded lines (a line starting with a space or tab continues the previous one) are unfolded; error
line numbers are those of the physical line where the property starts. Timed events, RRULE and
RDATE are refused rather than misread; other components (VTIMEZONE, VALARM...) are skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from .import_support import (ErrorFactory, LayerBuilder, parse_compact_date, parse_kind,
                             parse_region, parse_year)
from .layers import CalendarLayer, DayKind

WORK_SUMMARY_MARKERS = ("补班", "上班")
_DURATION_DAYS = re.compile(r"^P([0-9]+)D$")
_UNSUPPORTED_EVENT_PROPERTIES = ("RRULE", "RDATE", "EXDATE")


@dataclass(frozen=True)
class ContentLine:
    """One unfolded property: `NAME;PARAM=VALUE:value`, with the line it starts on."""
    line: int
    name: str
    params: dict[str, str]
    value: str


@dataclass
class _Event:
    line: int
    properties: dict[str, ContentLine] = field(default_factory=dict)


def _unfold(text: str) -> list[tuple[int, str]]:
    """Logical lines with the physical line number each starts on."""
    logical: list[tuple[int, str]] = []
    for number, physical in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if physical[:1] in (" ", "\t") and logical:
            start, content = logical[-1]
            logical[-1] = (start, content + physical[1:])
        elif physical.strip():
            logical.append((number, physical))
    return logical


def _split_value(content: str) -> tuple[str, str] | None:
    """`head`, `value` around the first colon that is not inside a quoted parameter."""
    quoted = False
    for index, char in enumerate(content):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return content[:index], content[index + 1:]
    return None


def _parse_content_line(line: int, content: str, error: ErrorFactory) -> ContentLine:
    parts = _split_value(content)
    if parts is None:
        raise error(line, f"无法解析的 iCalendar 行（缺少冒号）: {content[:60]!r} (malformed line)")
    head, value = parts
    name, *raw_params = head.split(";")
    params = {}
    for raw in raw_params:
        key, _, param_value = raw.partition("=")
        params[key.strip().upper()] = param_value.strip().strip('"')
    return ContentLine(line, name.strip().upper(), params, value)


def _unescape(text: str) -> str:
    """RFC 5545 TEXT unescaping: \\n, \\, \\; and \\\\."""
    replacements = {"n": "\n", "N": "\n", ",": ",", ";": ";", "\\": "\\"}
    return re.sub(r"\\(.)", lambda match: replacements.get(match.group(1), match.group(0)), text)


def _date_value(prop: ContentLine, error: ErrorFactory) -> date:
    if prop.params.get("VALUE", "DATE").upper() != "DATE" or "T" in prop.value.upper():
        raise error(prop.line, f"{prop.name} 必须是全天日期（VALUE=DATE，YYYYMMDD），"
                               f"不支持带时间的事件 (all-day dates only)")
    return parse_compact_date(prop.value, error, prop.line)


def _event_last_day(event: _Event, first: date, error: ErrorFactory) -> date:
    """The last day the event covers (DTEND is exclusive)."""
    if "DTEND" in event.properties:
        end_prop = event.properties["DTEND"]
        end = _date_value(end_prop, error)
        if end <= first:
            raise error(end_prop.line, f"DTEND {end} 不晚于 DTSTART {first} (range reversed)")
        return end - timedelta(days=1)
    if "DURATION" in event.properties:
        prop = event.properties["DURATION"]
        match = _DURATION_DAYS.match(prop.value.strip().upper())
        if match is None or int(match.group(1)) < 1:
            raise error(prop.line, f"DURATION 只支持整天，如 P3D，而不是 {prop.value!r} "
                                   f"(whole days only)")
        return first + timedelta(days=int(match.group(1)) - 1)
    return first


def _event_kind(event: _Event, summary: str, error: ErrorFactory) -> DayKind:
    explicit = event.properties.get("X-CAREPATH-KIND")
    if explicit is not None:
        return parse_kind(explicit.value, error, explicit.line)
    return "work" if any(marker in summary for marker in WORK_SUMMARY_MARKERS) else "off"


def _add_event(event: _Event, builder: LayerBuilder, error: ErrorFactory) -> None:
    for name in _UNSUPPORTED_EVENT_PROPERTIES:
        if name in event.properties:
            raise error(event.properties[name].line, f"不支持 {name}，请逐日列出 (not supported)")
    for required in ("DTSTART", "SUMMARY"):
        if required not in event.properties:
            raise error(event.line, f"VEVENT 缺少 {required} (missing field: {required})")
    summary = _unescape(event.properties["SUMMARY"].value).strip()
    if not summary:
        raise error(event.properties["SUMMARY"].line, "SUMMARY 不能为空 (empty SUMMARY)")
    first = _date_value(event.properties["DTSTART"], error)
    last = _event_last_day(event, first, error)
    builder.add_range(first, last, _event_kind(event, summary, error), summary, event.line)


@dataclass
class _Header:
    """Calendar-level properties."""
    properties: dict[str, ContentLine] = field(default_factory=dict)

    def source(self) -> str:
        for name in ("X-CAREPATH-SOURCE", "X-WR-CALNAME"):
            if name in self.properties:
                return _unescape(self.properties[name].value)
        return ""

    def official(self, error: ErrorFactory) -> bool:
        prop = self.properties.get("X-CAREPATH-OFFICIAL")
        if prop is None:
            return False
        value = prop.value.strip().upper()
        if value not in ("TRUE", "FALSE"):
            raise error(prop.line, f"X-CAREPATH-OFFICIAL 只能是 TRUE 或 FALSE，而不是 "
                                   f"{prop.value!r} (must be TRUE or FALSE)")
        return value == "TRUE"

    def region(self, error: ErrorFactory) -> str | None:
        prop = self.properties.get("X-CAREPATH-REGION")
        return None if prop is None else parse_region(prop.value, error, prop.line)

    def years(self, error: ErrorFactory) -> set[int]:
        prop = self.properties.get("X-CAREPATH-YEARS")
        if prop is None:
            return set()
        return {parse_year(raw, error, prop.line) for raw in prop.value.split(",")}


def _read_components(lines: list[tuple[int, str]], error: ErrorFactory
                     ) -> tuple[_Header, list[_Event]]:
    """Calendar properties and events; other components are skipped."""
    header, events, stack = _Header(), [], []
    event: _Event | None = None
    for number, content in lines:
        prop = _parse_content_line(number, content, error)
        if prop.name == "BEGIN":
            component = prop.value.strip().upper()
            if not stack and component != "VCALENDAR":
                raise error(number, "文件必须以 BEGIN:VCALENDAR 开始 (not an iCalendar file)")
            stack.append(component)
            if stack == ["VCALENDAR", "VEVENT"]:
                event = _Event(number)
        elif prop.name == "END":
            if not stack or stack[-1] != prop.value.strip().upper():
                raise error(number, f"END:{prop.value} 与 BEGIN 不匹配 (unbalanced END)")
            if stack.pop() == "VEVENT" and event is not None and not stack[1:]:
                events.append(event)
                event = None
        elif not stack:
            raise error(number, "文件必须以 BEGIN:VCALENDAR 开始 (not an iCalendar file)")
        elif stack == ["VCALENDAR"]:
            header.properties.setdefault(prop.name, prop)
        elif stack == ["VCALENDAR", "VEVENT"] and event is not None:
            if prop.name in event.properties:
                raise error(number, f"VEVENT 中 {prop.name} 重复 (duplicate property)")
            event.properties[prop.name] = prop
    if stack:
        raise error(lines[-1][0] if lines else None, f"缺少 END:{stack[-1]} (unterminated component)")
    return header, events


def parse_ics_layer(text: str, filename: str) -> CalendarLayer:
    """A `CalendarLayer` from iCalendar text; `filename` is used in error messages."""
    error = ErrorFactory(filename)
    lines = _unfold(text)
    if not lines:
        raise error(1, "文件为空 (empty file)")
    header, events = _read_components(lines, error)
    builder = LayerBuilder(error)
    for event in events:
        _add_event(event, builder, error)
    return builder.build(source=header.source(), official=header.official(error),
                         region=header.region(error), years=header.years(error), line=1)
