"""Calendar layer import: YAML and iCalendar fixtures, and every validation error."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.calendar import Calendar, CalendarImportError, CalendarLayer, DayRule, load_layer
from engine.calendar.importer import MAX_FILE_BYTES, parse_ics_layer, parse_yaml_layer

DATA = Path(__file__).parent / "data" / "calendar"
SOURCE_2027 = "测试样例：2027年部分节假日安排（非国务院原文）"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- fixtures load correctly ----------------------------------------------------------------

def test_yaml_fixture_loads() -> None:
    layer = load_layer(DATA / "national-2027.yaml")
    assert (layer.region, layer.source, layer.official, layer.years) == (
        None, SOURCE_2027, True, {2027})
    assert layer.rules[date(2027, 1, 1)] == DayRule(date(2027, 1, 1), "off", "元旦")
    assert layer.rules[date(2027, 2, 14)] == DayRule(date(2027, 2, 14), "work", "春节调休")
    assert layer.rules[date(2027, 10, 9)] == DayRule(date(2027, 10, 9), "work", "国庆节补班")
    spring = [day for day, rule in layer.rules.items() if rule.name == "春节"]
    assert (min(spring), max(spring), len(spring)) == (date(2027, 2, 5), date(2027, 2, 13), 9)
    assert len(layer.rules) == 29


def test_ics_fixture_is_equivalent_to_the_yaml_fixture() -> None:
    from_yaml = load_layer(DATA / "national-2027.yaml")
    from_ics = load_layer(DATA / "national-2027.ics")
    assert from_ics == from_yaml
    assert list(from_ics.rules) == list(from_yaml.rules)


def test_ics_with_crlf_line_endings_is_equivalent() -> None:
    text = (DATA / "national-2027.ics").read_text(encoding="utf-8").replace("\n", "\r\n")
    assert parse_ics_layer(text, "crlf.ics") == load_layer(DATA / "national-2027.yaml")


def test_regional_fixtures_load() -> None:
    county = load_layer(DATA / "county-510781.yaml")
    assert (county.region, county.official, county.years) == ("510781", True, set())
    assert county.rules[date(2026, 11, 3)].kind == "work"
    assert load_layer(DATA / "city-510700.yaml").rules[date(2026, 11, 3)].kind == "off"


def test_yaml_reads_values_as_written(tmp_path: Path) -> None:
    """Unquoted `off` is not YAML 1.1's False; a leading-zero code is not an octal number."""
    path = write(tmp_path, "local.yml", "source: 本地\nregion: 010100\nofficial: false\ndays:\n"
                                         "  - date: '2026-11-02'\n    kind: OFF\n    name: 休息\n")
    layer = load_layer(path)
    assert (layer.region, layer.official) == ("010100", False)
    assert layer.rules == {date(2026, 11, 2): DayRule(date(2026, 11, 2), "off", "休息")}


def test_same_day_listed_twice_with_the_same_kind_keeps_the_first_name(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.yaml",
                 "source: s\ndays:\n"
                 "  - {date: 2027-02-06, kind: off, name: 春节}\n"
                 "  - {range: [2027-02-05, 2027-02-07], kind: off, name: 假期}\n")
    assert load_layer(path).rules[date(2027, 2, 6)].name == "春节"


def test_imported_layer_works_in_a_calendar_from_ics() -> None:
    calendar = Calendar([load_layer(DATA / "national-2027.ics")])
    info = calendar.day_info(date(2027, 2, 20))
    assert (info.workday, info.provisional, info.name) == (True, False, "春节补班")


def test_layers_are_plain_data() -> None:
    layer = CalendarLayer(region=None, source="s", official=False)
    assert (layer.rules, layer.years) == ({}, set())
    assert CalendarLayer(region=None, source="t", official=False).rules is not layer.rules


# -- YAML errors name file, line and problem ------------------------------------------------

YAML_HEADER = "source: 测试\nofficial: false\ndays:\n"  # days start on line 4


@pytest.mark.parametrize("body, line, problem", [
    ("  - {date: 2027-02-30, kind: off, name: x}\n", 4, "bad date"),
    ("  - {date: 2027-1-5, kind: off, name: x}\n", 4, "bad date"),
    ("  - {date: 2027-01-05, kind: holiday, name: x}\n", 4, "unknown kind"),
    ("  - {range: [2027-02-13, 2027-02-06], kind: off, name: x}\n", 4, "range reversed"),
    ("  - {range: [2027-01-01, 2028-12-31], kind: off, name: x}\n", 4, "range too long"),
    ("  - {range: [2027-01-01], kind: off, name: x}\n", 4, "exactly two dates"),
    ("  - {date: 2027-01-05, kind: off, name: x}\n  - {date: 2027-01-06, kind: off}\n", 5,
     "missing field: name"),
    ("  - {date: 2027-01-05, name: x}\n", 4, "missing field: kind"),
    ("  - {kind: off, name: x}\n", 4, "need exactly one of date, range"),
    ("  - {date: 2027-01-05, range: [2027-01-05, 2027-01-06], kind: off, name: x}\n", 4,
     "need exactly one of date, range"),
    ("  - {date: 2027-01-05, kind: off, name: x, note: y}\n", 4, "unknown field"),
    ("  - {date: 2027-01-05, kind: off, name: x}\n  - {date: 2027-01-05, kind: work, name: y}\n",
     5, "marked both off and work"),
    ("  - {range: [2027-02-05, 2027-02-13], kind: off, name: 春节}\n"
     "  - date: 2027-02-09\n    kind: work\n    name: 补班\n", 5, "marked both off and work"),
    ("  - {date: 2027-01-05, kind: off, name: [x]}\n", 4, "expected a scalar"),
    ("  - {date: 2027-01-05, kind: off, name: x\n", 5, "YAML syntax error"),
])
def test_yaml_day_errors(tmp_path: Path, body: str, line: int, problem: str) -> None:
    path = write(tmp_path, "bad.yaml", YAML_HEADER + body)
    with pytest.raises(CalendarImportError) as caught:
        load_layer(path)
    error = caught.value
    assert (error.file, error.line) == (str(path), line)
    assert problem in error.problem
    assert str(error).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("text, line, problem", [
    ("official: true\nyears: [2027]\ndays: []\n", 1, "missing field: source"),
    ("source: s\n", 1, "missing field: days"),
    ("source: s\ndays: {date: 2027-01-01}\n", 2, "expected a list"),
    ("source: s\nofficial: yes please\ndays: []\n", 2, "official must be true or false"),
    ("source: s\nofficial: true\ndays: []\n", 1, "official national layer needs years"),
    ("source: s\nyears: [27]\ndays: []\n", 2, "bad year"),
    ("source: s\nregion: 'a b'\ndays: []\n", 2, "bad org-unit code"),
    ("source: s\noffical: true\ndays: []\n", 2, "unknown field"),
    ("source: s\nsource: t\ndays: []\n", 2, "duplicate field"),
    ("- just\n- a list\n", 1, "expected a mapping"),
    ("", 1, "empty file"),
    ("source: s\ndays: []\n---\nsource: t\n", 3, "YAML syntax error"),
])
def test_yaml_file_errors(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(CalendarImportError) as caught:
        load_layer(path)
    assert (caught.value.file, caught.value.line) == (str(path), line)
    assert problem in caught.value.problem


# -- ICS errors -----------------------------------------------------------------------------

def ics(*event_lines: str) -> str:
    header = ["BEGIN:VCALENDAR", "VERSION:2.0", "X-CAREPATH-SOURCE:测试"]  # lines 1-3
    return "\r\n".join([*header, *event_lines, "END:VCALENDAR", ""])


@pytest.mark.parametrize("event, line, problem", [
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270230", "SUMMARY:x", "END:VEVENT"], 5, "bad date"),
    (["BEGIN:VEVENT", "DTSTART:20270105T090000", "SUMMARY:x", "END:VEVENT"], 5,
     "all-day dates only"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "DTEND;VALUE=DATE:20270105", "SUMMARY:x",
      "END:VEVENT"], 6, "range reversed"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "END:VEVENT"], 4, "missing field: SUMMARY"),
    (["BEGIN:VEVENT", "SUMMARY:x", "END:VEVENT"], 4, "missing field: DTSTART"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "SUMMARY:x", "X-CAREPATH-KIND:holiday",
      "END:VEVENT"], 7, "unknown kind"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "SUMMARY:x", "RRULE:FREQ=YEARLY",
      "END:VEVENT"], 7, "not supported"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "DURATION:PT4H", "SUMMARY:x", "END:VEVENT"],
     6, "whole days only"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270104", "DTEND;VALUE=DATE:20270107", "SUMMARY:假",
      "END:VEVENT", "BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "SUMMARY:调休上班",
      "END:VEVENT"], 9, "marked both off and work"),
    (["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20270105", "SUMMARY:x", "END:VTODO"], 7,
     "unbalanced END"),
    (["BEGIN:VEVENT", "this line has no colon", "END:VEVENT"], 5, "malformed line"),
])
def test_ics_errors(tmp_path: Path, event: list[str], line: int, problem: str) -> None:
    path = write(tmp_path, "bad.ics", ics(*event))
    with pytest.raises(CalendarImportError) as caught:
        load_layer(path)
    assert (caught.value.file, caught.value.line) == (str(path), line)
    assert problem in caught.value.problem


def test_ics_error_lines_count_physical_lines_of_folded_properties(tmp_path: Path) -> None:
    text = ics("BEGIN:VEVENT", "DESCRIPTION:folded", " over", " three lines",
               "DTSTART;VALUE=DATE:2027023", " 1", "SUMMARY:x", "END:VEVENT")
    path = write(tmp_path, "folded.ics", text)
    with pytest.raises(CalendarImportError) as caught:
        load_layer(path)
    assert caught.value.line == 8 and "bad date" in caught.value.problem


@pytest.mark.parametrize("text, line, problem", [
    ("BEGIN:VEVENT\nEND:VEVENT\n", 1, "not an iCalendar file"),
    ("BEGIN:VCALENDAR\nX-CAREPATH-SOURCE:s\n", 2, "unterminated component"),
    ("BEGIN:VCALENDAR\nEND:VCALENDAR\n", 1, "missing field: source"),
    ("BEGIN:VCALENDAR\nX-WR-CALNAME:s\nX-CAREPATH-OFFICIAL:TRUE\nEND:VCALENDAR\n", 1,
     "official national layer needs years"),
    ("BEGIN:VCALENDAR\nX-WR-CALNAME:s\nX-CAREPATH-OFFICIAL:maybe\nEND:VCALENDAR\n", 3,
     "must be TRUE or FALSE"),
    ("BEGIN:VCALENDAR\nX-WR-CALNAME:s\nX-CAREPATH-YEARS:2027,20x8\nEND:VCALENDAR\n", 3,
     "bad year"),
    ("\n\n", 1, "empty file"),
])
def test_ics_calendar_errors(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, "bad.ics", text)
    with pytest.raises(CalendarImportError) as caught:
        load_layer(path)
    assert (caught.value.file, caught.value.line) == (str(path), line)
    assert problem in caught.value.problem


def test_ics_calendar_properties(tmp_path: Path) -> None:
    text = ("BEGIN:VCALENDAR\nX-WR-CALNAME:县里的日历\nX-CAREPATH-REGION:510781\n"
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261102\nSUMMARY:地方休息日\nEND:VEVENT\nEND:VCALENDAR\n")
    layer = parse_ics_layer(text, "county.ics")
    assert (layer.source, layer.region, layer.official, layer.years) == (
        "县里的日历", "510781", False, set())
    assert layer.rules == {date(2026, 11, 2): DayRule(date(2026, 11, 2), "off", "地方休息日")}


# -- file-level refusals --------------------------------------------------------------------

def test_files_over_one_megabyte_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "huge.yaml", "source: s\ndays: []\n# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(CalendarImportError) as caught:
        load_layer(path)
    assert (caught.value.file, caught.value.line) == (str(path), None)
    assert "over 1 MB" in caught.value.problem


def test_non_utf8_and_unknown_extensions_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"source: s\ndays: []\nname: \xe9t\xe9\n")
    with pytest.raises(CalendarImportError) as caught:
        load_layer(latin)
    assert caught.value.line == 3 and "not UTF-8" in caught.value.problem
    with pytest.raises(CalendarImportError, match="unsupported file type"):
        load_layer(write(tmp_path, "days.csv", "2027-01-01,off\n"))
    with pytest.raises(CalendarImportError, match="cannot read file"):
        load_layer(tmp_path / "missing.yaml")


def test_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffsource: s\ndays: []\n".encode("utf-8"))
    assert load_layer(path).source == "s"


def test_parsers_take_text_directly() -> None:
    text = (DATA / "county-510781.yaml").read_text(encoding="utf-8")
    assert parse_yaml_layer(text, "inline.yaml") == load_layer(DATA / "county-510781.yaml")
