"""The FEEL subset behind form-js `conditional.hide`, `readonly` and expression fields."""
from __future__ import annotations

import pytest

from engine.forms.feel import MAX_LENGTH, FeelError, evaluate, is_true, parse_feel


def feel(text: str, **variables):
    return evaluate(parse_feel(text), variables)


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("12 / 4 / 3", 1),
    ("-2 * 3", -6),
    ("--2", 2),
    ("0.1 + 0.2 = 0.3", True),          # decimals, as FEEL
    ("7 / 2", 3.5),
    ('"学" + "生"', "学生"),
    ('"a\\"b"', 'a"b'),
    ('"\\u4e2d"', "中"),
    (".5 * 4", 2),
    ("[1, 2, 3]", [1, 2, 3]),
    ("[]", []),
    ("true", True),
    ("null", None),
])
def test_literals_and_arithmetic(text, expected):
    assert feel(text) == expected


def test_leading_equals_sign_is_how_form_js_marks_expressions():
    assert feel("= score >= 10", score=12) is True
    assert feel("  =score", score=3) == 3


def test_names_and_paths_read_only_dicts_and_lists():
    env = {"patient": {"age": 15, "school": {"grade": 9}}, "scores": [3, 1, 2]}
    assert feel("patient.age", **env) == 15
    assert feel("patient.school.grade > 8", **env) is True
    assert feel("patient.missing.deeper", **env) is None
    assert feel("scores[1]", **env) == 3
    assert feel("scores[-1]", **env) == 2
    assert feel("scores[0]", **env) is None
    assert feel("scores[4]", **env) is None
    assert feel("scores[1.5]", **env) is None
    with pytest.raises(FeelError):
        parse_feel('{"a": 1}.a')                     # context literals are not in the subset


def test_path_over_a_list_maps_like_feel():
    assert feel("items.n", items=[{"n": 1}, {"n": 2}, 7]) == [1, 2, None]


@pytest.mark.parametrize("text, expected", [
    ("1 < 2", True), ("2 <= 2", True), ("3 > 4", False), ("3 >= 4", False),
    ('"a" < "b"', True), ("1 = 1.0", True), ("1 != 2", True),
    ('1 = "1"', None),                  # different types: null, not false
    ("true < false", None),
    ("[1, 2] = [1, 2]", True), ("[1, 2] = [2, 1]", False),
])
def test_comparisons(text, expected):
    assert feel(text) is expected


def test_null_semantics():
    assert feel("missing = null") is True
    assert feel("missing != null") is False
    assert feel("missing > 3") is None
    assert feel("missing + 1") is None
    assert feel("1 / 0") is None
    assert feel("not(missing)") is None
    assert feel("not(1)") is None
    assert feel("-\"x\"") is None


@pytest.mark.parametrize("text, expected", [
    ("true and true", True), ("true and false", False), ("false and null", False),
    ("null and false", False), ("true and null", None), ("true and 1", None),
    ("true or null", True), ("null or true", True), ("false or null", None), ("false or false", False),
    ("not(true)", False), ("not(false)", True),
])
def test_three_valued_logic(text, expected):
    assert feel(text) is expected


def test_precedence_and_binds_tighter_than_or_and_comparison_tighter_than_and():
    assert feel("a = 1 or a = 2 and b", a=1, b=False) is True
    assert feel("(a = 1 or a = 2) and b", a=1, b=False) is False
    assert feel("a + 1 > 2 and a * 2 < 10", a=2) is True


@pytest.mark.parametrize("text, expected", [
    ("x in [1, 2, 3]", True), ("x in [4, 5]", False), ("x in []", False),
    ("x in (1, 3)", True), ("x in 3", True), ("x in (< 5, 10)", True), ("x in > 3", False),
    ("x in [1..3]", True), ("x in [1..3)", False), ("x in ]3..5]", False), ("x in ]1..5[", True),
    ("x in (3..5]", False), ('x in ["3", 3]', True),
    ("x between 1 and 3", True), ("x between 4 and 9", False),
    ("x between 1 and 5 and y", True),
])
def test_in_and_between(text, expected):
    assert feel(text, x=3, y=True) is expected


def test_in_with_null():
    assert feel("missing in [1, null]") is True
    assert feel("missing in [1, 2]") is False
    assert feel("missing in > 3") is None


def test_if_then_else():
    assert feel('if score >= 20 then "high" else if score >= 10 then "medium" else "low"', score=12) == "medium"
    assert feel("if missing then 1 else 2") == 2


def test_numbers_come_back_as_int_or_float():
    assert isinstance(feel("a + b", a=1, b=2), int)
    assert feel("a / b", a=1, b=4) == 0.25
    assert feel("a", a=2.5) == 2.5
    assert feel("a", a=float("nan")) is None


def test_is_true_only_for_boolean_true():
    assert is_true(parse_feel("= 1 = 1"), {}) is True
    assert is_true(parse_feel("= 1"), {}) is False
    assert is_true(parse_feel("= missing > 1"), {}) is False
    assert is_true(None, {}) is False
    assert is_true(parse_feel("= flag"), None) is False


@pytest.mark.parametrize("text, position", [
    ("a +", 3),
    ("(1 + 2", 6),
    ("1 1", 2),
    ("a ! b", 2),
    ('"open', 0),
    ("a.", 2),
    ("x in ]1", 7),
    ("= a ==", 5),
    ("not 1", 4),
])
def test_syntax_errors_carry_a_position(text, position):
    with pytest.raises(FeelError) as caught:
        parse_feel(text)
    assert caught.value.position == position
    assert "位置" in str(caught.value)


def test_functions_other_than_not_are_refused():
    for text in ('__import__("os")', "count(xs)", 'eval("1")', "date(x)"):
        with pytest.raises(FeelError, match="不支持的函数"):
            parse_feel(text)


def test_hostile_names_are_just_undefined_variables():
    assert feel("__import__") is None
    assert feel("__class__.__mro__") is None
    assert feel("x.__class__", x=3) is None
    assert feel("x.__dict__", x=object()) is None
    assert feel("x.real", x=3) is None          # never a Python attribute
    assert feel("x.upper", x="abc") is None
    assert feel("_secret = null") is True


def test_opaque_python_objects_compare_as_null():
    sentinel = object()
    assert feel("x = x", x=sentinel) is None
    assert feel("x > 1", x=sentinel) is None


def test_length_limit():
    with pytest.raises(FeelError, match="超过"):
        parse_feel("a" * (MAX_LENGTH + 1))
    assert feel("1" + " + 1" * 60) == 61


def test_nesting_and_depth_limits():
    with pytest.raises(FeelError, match="嵌套过深"):
        parse_feel("(" * 200 + "1" + ")" * 200)
    with pytest.raises(FeelError, match="嵌套过深"):
        parse_feel("not(" * 60 + "true" + ")" * 60)
    with pytest.raises(FeelError, match="过于复杂"):
        parse_feel("1" + "+1" * 200)
    with pytest.raises(FeelError, match="过于复杂"):
        parse_feel("-" * 400 + "1")
    with pytest.raises(FeelError):
        parse_feel("x in " + "[" * 150)


def test_deeply_nested_data_does_not_crash():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert feel("a = b", a=deep, b=deep) is None
    assert isinstance(feel("a", a=deep), list)
    huge = 10 ** 5000
    assert feel("a * a > 1", a=huge) is None        # decimal overflow is null, not an exception
    assert feel("a > 1", a=huge) is True
    assert feel("a / 3", a=huge) is None            # no float can hold it


def test_non_string_expression_is_refused():
    with pytest.raises(FeelError):
        parse_feel(42)  # type: ignore[arg-type]
