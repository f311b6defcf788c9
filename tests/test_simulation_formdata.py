"""Simulated staff submit forms the real validator accepts: a value for every field, within its
options, bounds, step, length and pattern, dated on the engine clock, the same for the same seed."""
from __future__ import annotations

import json
import random
import re
from datetime import datetime

import pytest

from engine.forms.definition import compile_pattern
from engine.forms.schema import FormValidator
from engine.simulation.formdata import Generator, PatternUnsupported, sample_pattern

from conftest import ROOT, SHANGHAI

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
LIBRARY_FORMS = sorted((ROOT / "forms").glob("*/*.form"))


@pytest.mark.parametrize("path", LIBRARY_FORMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_library_form_accepts_what_is_generated_for_it(path):
    validator = FormValidator.from_definition(json.loads(path.read_text(encoding="utf-8")), str(path))
    for seed in range(12):
        data = Generator(random.Random(seed), NOW).submission(validator)
        cleaned = validator.validate(data)          # raises FormInvalid naming the field at fault
        assert cleaned or not validator.variables


def test_the_library_has_forms_to_check():
    assert len(LIBRARY_FORMS) >= 30


def test_the_same_seed_gives_the_same_submission_and_another_seed_varies():
    path = ROOT / "forms" / "school_screening" / "screening.form"
    validator = FormValidator.from_definition(json.loads(path.read_text(encoding="utf-8")))
    first = [Generator(random.Random(7), NOW).submission(validator) for _ in range(2)]
    assert first[0] == first[1]
    others = {json.dumps(Generator(random.Random(seed), NOW).submission(validator), sort_keys=True)
              for seed in range(8)}
    assert len(others) > 1


def test_fields_take_their_kind_bounds_and_the_engine_clock():
    form = {"type": "default", "components": [
        {"type": "number", "key": "score", "validate": {"min": 5, "max": 27, "required": True},
         "increment": 2, "decimalDigits": 0},
        {"type": "number", "key": "dose", "validate": {"min": 0.5, "max": 1}, "increment": 0.25,
         "serializeToString": True},
        {"type": "datetime", "key": "visit", "subtype": "date"},
        {"type": "datetime", "key": "called", "subtype": "datetime", "timeSerializingFormat": "utc_normalized"},
        {"type": "datetime", "key": "at", "subtype": "time"},
        {"type": "textfield", "key": "code", "validate": {"pattern": "^F[0-9]{2}(\\.[0-9]{1,2})?$"}},
        {"type": "textarea", "key": "note", "validate": {"minLength": 10, "maxLength": 12}},
        {"type": "textfield", "key": "mail", "validate": {"validationType": "email"}},
        {"type": "textfield", "key": "phone", "validate": {"validationType": "phone"}},
        {"type": "checkbox", "key": "consent", "validate": {"required": True}},
        {"type": "checklist", "key": "measures", "values": [{"label": "a", "value": "a"}, {"label": "b", "value": "b"}]},
        {"type": "dynamiclist", "path": "visits", "components": [
            {"type": "select", "key": "kind", "values": [{"label": "x", "value": "x"}]}]},
    ]}
    validator = FormValidator.from_definition(form)
    for seed in range(25):
        data = Generator(random.Random(seed), NOW).submission(validator)
        assert validator.validate(data)
        assert data["score"] in range(6, 27, 2)             # the first multiple of 2 at or above 5
        assert data["dose"] in ("0.5", "0.75", "1")
        assert data["visit"] == "2026-11-20"                  # today in the engine's zone
        assert data["called"] == "2026-11-20T02:00Z"          # 10:00 in Shanghai, in UTC
        assert data["at"] == "10:00+08:00"
        assert re.fullmatch(r"F[0-9]{2}(\.[0-9]{1,2})?", data["code"])
        assert 10 <= len(data["note"]) <= 12
        assert data["consent"] is True and set(data["measures"]) <= {"a", "b"} and data["measures"]
        assert data["visits"] == [{"kind": "x"}]


def test_fixed_values_replace_generated_ones_and_a_list_means_one_of_them():
    form = {"type": "default", "components": [
        {"type": "number", "key": "phq9_score", "validate": {"min": 0, "max": 27}},
        {"type": "textfield", "key": "note"}]}
    validator = FormValidator.from_definition(form)
    seen = set()
    for seed in range(30):
        data = Generator(random.Random(seed), NOW).submission(
            validator, {"phq9_score": [3, 14], "note": "随访"})
        seen.add(data["phq9_score"])
        assert data["note"] == "随访"
    assert seen == {3, 14}


@pytest.mark.parametrize("pattern", [
    r"^1[3-9][0-9]{9}$", r"^[0-9+-]{7,20}$", r"^KF[0-9]{4}-[0-9]{4}$", r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$",
    r"^[^0-9]{3}\d+$", r"^(?:ab|cd)+x?\w\s\S$", r"[a-c]", r"^.{2,4}$",
])
def test_patterns_are_sampled_to_matching_text(pattern):
    compiled = compile_pattern(pattern)
    rng = random.Random(3)
    for _ in range(40):
        assert compiled.search(sample_pattern(compiled, rng))


def test_a_pattern_the_sampler_cannot_follow_is_refused_by_name():
    with pytest.raises(PatternUnsupported, match="无法"):
        sample_pattern(re.compile(r"^(a)\1$"), random.Random(1))
