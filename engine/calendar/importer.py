"""Importing calendar layers from files: `load_layer(path) -> CalendarLayer`.

Two formats, chosen by file extension (full reference: docs/calendar-format.md).

YAML (`.yaml`, `.yml`)::

    source: 国务院办公厅关于2027年部分节假日安排的通知
    official: true          # official national schedule: its years stop being provisional
    region: null            # or an org-unit code like "510781" for a local layer
    years: [2027]
    days:
      - {date: 2027-01-01, kind: off, name: 元旦}
      - {range: [2027-02-06, 2027-02-13], kind: off, name: 春节}   # both ends included
      - {date: 2027-02-14, kind: work, name: 春节调休}

  `source` and `days` are required; `official` defaults to false, `region` to null (national),
  `years` to none. Each day has `kind` (off|work), `name`, and exactly one of `date` or `range`.
  An official national layer must list `years`: inside them it is the complete schedule (unlisted
  dates are ordinary weekdays/weekends). Unknown fields are errors (they are usually typos).

iCalendar (`.ics`): all-day VEVENTs, `DTSTART;VALUE=DATE`, `DTEND` exclusive, `SUMMARY` = name;
`X-CAREPATH-KIND:work`, or a SUMMARY containing 补班 / 上班 (调休上班), marks working days, anything
else is a day off. Layer attributes come from calendar properties `X-CAREPATH-SOURCE` (or
`X-WR-CALNAME`), `X-CAREPATH-OFFICIAL`, `X-CAREPATH-REGION`, `X-CAREPATH-YEARS`.

Both: UTF-8 (a BOM is tolerated), at most 1 MB, a date may not be both off and work, a range may
not be reversed or longer than 366 days. Every problem raises `CalendarImportError` with `file`,
`line` (None only when no line applies) and `problem`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .ics_format import parse_ics_layer
from .import_support import MAX_FILE_BYTES, CalendarImportError
from .layers import CalendarLayer
from .yaml_format import parse_yaml_layer

Parser = Callable[[str, str], CalendarLayer]
PARSERS: dict[str, Parser] = {
    ".yaml": parse_yaml_layer,
    ".yml": parse_yaml_layer,
    ".ics": parse_ics_layer,
}

__all__ = ["CalendarImportError", "load_layer", "parse_ics_layer", "parse_yaml_layer",
           "read_calendar_text", "MAX_FILE_BYTES"]


def _parser_for(path: Path) -> Parser:
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise CalendarImportError(str(path), None, f"不支持的文件类型 {path.suffix!r}，应为 "
                                                   f"{', '.join(PARSERS)} (unsupported file type)")
    return parser


def read_calendar_text(path: Path) -> str:
    """The file's text: refused above `MAX_FILE_BYTES` or when it is not UTF-8."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CalendarImportError(name, None, f"文件过大: {size} 字节，上限 {MAX_FILE_BYTES} 字节"
                                                  f" (file over 1 MB)")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CalendarImportError(name, None, f"无法读取文件: {exc.strerror or exc} "
                                              f"(cannot read file)") from exc
    if len(data) > MAX_FILE_BYTES:
        raise CalendarImportError(name, None, "文件过大，上限 1 MB (file over 1 MB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CalendarImportError(name, line, "文件不是 UTF-8 编码 (not UTF-8)") from exc


def load_layer(path: str | Path) -> CalendarLayer:
    """Read and validate a calendar layer file (`.yaml`/`.yml` or `.ics`)."""
    path = Path(path)
    parser = _parser_for(path)
    return parser(read_calendar_text(path), str(path))
