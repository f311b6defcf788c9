"""Task submissions validated against bpmn.io form-js definitions (and Camunda formField declarations)."""
from __future__ import annotations

import copy
import json

import pytest

from engine import errors
from engine.errors import CarePathError, InvalidInput
from engine.forms import (FormDefinitionError, FormInvalid, FormProblem, FormValidator, check_form,
                          declared_to_form)

# A school psychological screening form as the Camunda Modeler exports it.
SCREENING = {
    "type": "default",
    "id": "school_screening",
    "schemaVersion": 16,
    "exporter": {"name": "Camunda Modeler", "version": "5.28.0"},
    "executionPlatform": "Camunda Cloud",
    "components": [
        {"type": "text", "id": "Field_title", "text": "# 学生心理健康筛查\n请班主任如实填写。"},
        {"type": "textfield", "id": "Field_class", "key": "class_name", "label": "班级",
         "description": "如 3班、12班", "validate": {"required": True, "pattern": "^[1-9][0-9]?班$"}},
        {"type": "number", "id": "Field_score", "key": "phq9_score", "label": "筛查得分",
         "decimalDigits": 0, "validate": {"required": True, "min": 0, "max": 27}},
        {"type": "select", "id": "Field_risk", "key": "risk_level", "label": "风险等级",
         "values": [{"label": "低风险", "value": "low"}, {"label": "中风险", "value": "medium"},
                    {"label": "高风险", "value": "high"}],
         "validate": {"required": True}},
        {"type": "textarea", "id": "Field_note", "key": "risk_note", "label": "风险说明",
         "conditional": {"hide": "=risk_level != \"high\""},
         "validate": {"required": True, "minLength": 5, "maxLength": 500}},
        {"type": "separator", "id": "Field_sep"},
        {"type": "checkbox", "id": "Field_consent", "key": "guardian_consent", "label": "监护人已知情同意",
         "validate": {"required": True}},
        {"type": "datetime", "id": "Field_date", "key": "screened_on", "label": "筛查日期",
         "subtype": "date", "dateLabel": "日期"},
        {"type": "button", "id": "Field_submit", "label": "提交", "action": "submit"},
    ],
}

GOOD = {"class_name": "3班", "phq9_score": 12, "risk_level": "medium", "guardian_consent": True,
        "screened_on": "2026-11-02"}


def form(*components: dict) -> dict:
    return {"type": "default", "id": "f", "components": list(components)}


def rejects(validator: FormValidator, data, context=None) -> dict[str, list[str]]:
    with pytest.raises(FormInvalid) as caught:
        validator.validate(data, context)
    return caught.value.fields


@pytest.fixture(scope="module")
def screening() -> FormValidator:
    return FormValidator.from_definition(SCREENING, "school/screening.form.json")


# ---------------------------------------------------------------- the screening form

def test_screening_form_is_sound_as_dict_text_and_bytes():
    text = json.dumps(SCREENING, ensure_ascii=False)
    assert check_form(SCREENING) == []
    assert check_form(text) == []
    assert check_form(text.encode("utf-8")) == []


def test_valid_submission_is_returned_clean(screening):
    assert screening.validate(GOOD) == GOOD
    assert screening.variables == {"class_name", "phq9_score", "risk_level", "risk_note",
                                   "guardian_consent", "screened_on"}


def test_messages_name_the_label_in_chinese_and_english(screening):
    with pytest.raises(FormInvalid) as caught:
        screening.validate({**GOOD, "phq9_score": 28})
    assert caught.value.fields == {"phq9_score": ["筛查得分: 不能大于 27"]}
    assert caught.value.fields_en == {"phq9_score": ["筛查得分: must be at most 27"]}
    assert "筛查得分: 不能大于 27" in str(caught.value)
    assert isinstance(caught.value, InvalidInput) and caught.value.code == "form_invalid"
    assert FormInvalid is errors.FormInvalid


def test_every_fault_is_reported_at_once(screening):
    fields = rejects(screening, {"class_name": "三班", "phq9_score": -1, "risk_level": "severe",
                                 "guardian_consent": "yes", "screened_on": "2026-02-30", "grade": 9})
    assert fields == {
        "class_name": ["班级: 格式不符合要求"],
        "phq9_score": ["筛查得分: 不能小于 0"],
        "risk_level": ["风险等级: 不是可选的选项"],
        "guardian_consent": ["监护人已知情同意: 必须是 true 或 false"],
        "screened_on": ["筛查日期: 格式不正确，应如 2026-11-02"],
        "grade": ["未知字段 grade"],
    }


@pytest.mark.parametrize("empty", [None, "", "missing"])
def test_required_means_present_and_not_empty(screening, empty):
    data = {**GOOD}
    if empty == "missing":
        del data["class_name"]
    else:
        data["class_name"] = empty
    assert rejects(screening, data) == {"class_name": ["班级: 必填"]}


def test_a_required_checkbox_must_be_ticked_as_in_form_js(screening):
    assert rejects(screening, {**GOOD, "guardian_consent": False}) == {"guardian_consent": ["监护人已知情同意: 必填"]}


def test_optional_fields_may_be_left_out_or_null(screening):
    data = {k: v for k, v in GOOD.items() if k != "screened_on"}
    assert screening.validate(data) == data
    assert screening.validate({**data, "screened_on": None})["screened_on"] is None


def test_hidden_field_is_not_required_and_its_value_is_dropped(screening):
    assert screening.validate({**GOOD, "risk_note": "不应保存"}) == GOOD
    assert screening.validate({**GOOD, "risk_note": 12345}) == GOOD      # not even type-checked


def test_shown_field_is_required_and_validated(screening):
    high = {**GOOD, "risk_level": "high"}
    assert rejects(screening, high) == {"risk_note": ["风险说明: 必填"]}
    assert rejects(screening, {**high, "risk_note": "  太短  "}) == {"risk_note": ["风险说明: 至少需要 5 个字符"]}
    assert screening.validate({**high, "risk_note": "有自伤念头，需转介"})["risk_note"] == "有自伤念头，需转介"


def test_pattern_is_a_javascript_regexp(screening):
    assert screening.validate({**GOOD, "class_name": "12班"})["class_name"] == "12班"
    for bad in ["0班", "123班", "3班\n", "3 班", "３班"]:
        assert rejects(screening, {**GOOD, "class_name": bad}) == {"class_name": ["班级: 格式不符合要求"]}


def test_unanchored_pattern_searches_like_regexp_test():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "code", "label": "编码", "validate": {"pattern": "[0-9]{3}"}}))
    assert validator.validate({"code": "编号123号"}) == {"code": "编号123号"}
    assert validator.validate({"code": ""}) == {"code": ""}          # empty is not checked, as in form-js
    assert rejects(validator, {"code": "12"}) == {"code": ["编码: 格式不符合要求"]}


def test_hide_condition_sees_process_variables_from_context():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "school_note", "label": "学校意见",
         "conditional": {"hide": "=case.age >= 18"}, "validate": {"required": True}}))
    assert validator.validate({}, context={"case": {"age": 19}}) == {}
    assert rejects(validator, {}, context={"case": {"age": 15}}) == {"school_note": ["学校意见: 必填"]}
    # Submitted data wins over the context, and null comparisons never hide.
    assert rejects(validator, {"case": None}, context={"case": {"age": 19}})["school_note"] == ["学校意见: 必填"]
    assert rejects(validator, {}) == {"school_note": ["学校意见: 必填"]}


def test_a_hidden_group_hides_its_children():
    validator = FormValidator.from_definition(form(
        {"type": "checkbox", "key": "referred", "label": "已转介"},
        {"type": "group", "label": "转介信息", "conditional": {"hide": "=not(referred)"}, "components": [
            {"type": "textfield", "key": "hospital", "label": "医院", "validate": {"required": True}}]}))
    assert validator.validate({"referred": False, "hospital": "x"}) == {"referred": False}
    assert validator.validate({"hospital": "x"}) == {"hospital": "x"}        # not(null) is null: shown
    assert rejects(validator, {"referred": True}) == {"hospital": ["医院: 必填"]}


def test_always_hidden_component():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "internal", "conditional": {"hide": True}, "validate": {"required": True}}))
    assert validator.validate({"internal": "x"}) == {}


# ---------------------------------------------------------------- component types

def test_text_lengths_use_trimmed_length_like_form_js():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "name", "label": "姓名", "validate": {"minLength": 2, "maxLength": 4}}))
    assert validator.validate({"name": " 张三 "}) == {"name": " 张三 "}
    assert rejects(validator, {"name": " 张 "}) == {"name": ["姓名: 至少需要 2 个字符"]}
    assert rejects(validator, {"name": "欧阳娜娜娜"}) == {"name": ["姓名: 不能超过 4 个字符"]}
    assert rejects(validator, {"name": 42}) == {"name": ["姓名: 必须是文本"]}
    assert rejects(validator, {"name": ["张三"]}) == {"name": ["姓名: 必须是文本"]}


def test_text_has_a_hard_size_limit():
    validator = FormValidator.from_definition(form({"type": "textarea", "key": "note", "label": "备注"}))
    assert "备注: 不能超过 20000 个字符" in rejects(validator, {"note": "字" * 20_001})["note"]


def test_email_and_phone_validation_types():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "email", "label": "邮箱", "validate": {"validationType": "email"}},
        {"type": "textfield", "key": "phone", "label": "电话", "validate": {"validationType": "phone"}}))
    assert validator.validate({"email": "wang.li@school.edu.cn", "phone": "+8613800138000"})
    assert validator.validate({"phone": "008613800138000"})
    fields = rejects(validator, {"email": "wang@", "phone": "13800138000"})
    assert fields["email"] == ["邮箱: 不是有效的电子邮件地址"]
    assert fields["phone"][0].startswith("电话: 不是有效的国际电话号码")


def test_numbers():
    validator = FormValidator.from_definition(form(
        {"type": "number", "key": "weight", "label": "体重", "decimalDigits": 1,
         "validate": {"min": 10.5, "max": 200}},
        {"type": "number", "key": "dose", "label": "剂量", "increment": 0.25}))
    assert validator.validate({"weight": 42, "dose": 1.75}) == {"weight": 42, "dose": 1.75}
    assert isinstance(validator.validate({"weight": 42})["weight"], int)
    assert validator.validate({"weight": 10.5}) == {"weight": 10.5}
    assert rejects(validator, {"weight": 10.4}) == {"weight": ["体重: 不能小于 10.5"]}
    assert rejects(validator, {"weight": 42.25}) == {"weight": ["体重: 最多 1 位小数"]}
    assert rejects(validator, {"dose": 1.3}) == {"dose": ["剂量: 必须是 0.25 的整数倍"]}
    for bad in [True, "42", float("nan"), float("inf"), 1e300, [42], {"v": 1}]:
        assert rejects(validator, {"weight": bad}) == {"weight": ["体重: 必须是数字"]}, bad


def test_zero_is_a_value_not_an_empty_field():
    validator = FormValidator.from_definition(form(
        {"type": "number", "key": "n", "label": "次数", "validate": {"required": True, "min": 1}}))
    assert rejects(validator, {"n": 0}) == {"n": ["次数: 不能小于 1"]}


def test_serialize_to_string_numbers_arrive_as_decimal_strings():
    validator = FormValidator.from_definition(form(
        {"type": "number", "key": "amount", "label": "金额", "serializeToString": True, "decimalDigits": 2,
         "validate": {"max": 1000}}))
    assert validator.validate({"amount": "12.50"}) == {"amount": "12.50"}
    assert rejects(validator, {"amount": "1e3"}) == {"amount": ["金额: 必须是数字"]}
    assert rejects(validator, {"amount": "1000.01"}) == {"amount": ["金额: 不能大于 1000"]}


def test_select_and_radio_keep_option_types():
    validator = FormValidator.from_definition(form(
        {"type": "radio", "key": "grade", "label": "年级",
         "values": [{"label": "一年级", "value": 1}, {"label": "二年级", "value": 2}]},
        {"type": "select", "key": "school", "label": "学校",
         "values": [{"label": "一中", "value": "1"}, {"label": "二中", "value": "2"}]}))
    assert validator.validate({"grade": 1, "school": "1"}) == {"grade": 1, "school": "1"}
    assert validator.validate({"grade": 2.0}) == {"grade": 2}
    fields = rejects(validator, {"grade": "1", "school": 1})
    assert fields == {"grade": ["年级: 不是可选的选项"], "school": ["学校: 不是可选的选项"]}
    assert rejects(validator, {"grade": True}) == {"grade": ["年级: 不是可选的选项"]}


def test_checklist_and_taglist():
    values = [{"label": "失眠", "value": "insomnia"}, {"label": "厌食", "value": "anorexia"},
              {"label": "自伤", "value": "self_harm"}]
    validator = FormValidator.from_definition(form(
        {"type": "checklist", "key": "symptoms", "label": "症状", "values": values, "validate": {"required": True}},
        {"type": "taglist", "key": "tags", "label": "标签", "values": values}))
    assert validator.validate({"symptoms": ["insomnia", "self_harm"], "tags": []}) == {
        "symptoms": ["insomnia", "self_harm"], "tags": []}
    assert rejects(validator, {"symptoms": []}) == {"symptoms": ["症状: 必填"]}
    assert rejects(validator, {"symptoms": ["insomnia", "fever"]}) == {"symptoms": ["症状: 不是可选的选项"]}
    assert rejects(validator, {"symptoms": ["insomnia", "insomnia"]}) == {"symptoms": ["症状: 选项重复"]}
    assert rejects(validator, {"symptoms": "insomnia"}) == {"symptoms": ["症状: 必须是选项列表"]}


@pytest.mark.parametrize("subtype, fmt, good, bad", [
    ("date", None, ["2026-11-02", "2024-02-29"], ["2026-13-01", "2026/11/02", "2026-11-02T09:00", "2025-02-29"]),
    ("time", None, ["09:30+08:00", "23:59Z", "09:30:15-05:00"], ["9:30+08:00", "09:30", "24:00+08:00"]),
    ("time", "utc_normalized", ["01:30Z"], ["01:30+08:00", "01:30"]),
    ("time", "no_timezone", ["14:05"], ["14:05Z", "14:05+08:00"]),
    ("datetime", None, ["2026-11-02T09:30+08:00", "2026-11-02T01:30Z"], ["2026-11-02 09:30+08:00", "2026-11-02"]),
    ("datetime", "no_timezone", ["2026-11-02T09:30"], ["2026-11-02T09:30+08:00"]),
])
def test_datetime_formats(subtype, fmt, good, bad):
    component = {"type": "datetime", "key": "at", "label": "时间", "subtype": subtype}
    if fmt:
        component["timeSerializingFormat"] = fmt
    validator = FormValidator.from_definition(form(component))
    for value in good:
        assert validator.validate({"at": value}) == {"at": value}
    for value in bad + [20261102]:
        assert rejects(validator, {"at": value})["at"][0].startswith("时间: 格式不正确"), value


def test_presentation_components_take_no_data():
    validator = FormValidator.from_definition(form(
        {"type": "text", "text": "说明"}, {"type": "html", "content": "<b>注意</b>"},
        {"type": "image", "source": "https://example.org/logo.png"}, {"type": "spacer", "height": 30},
        {"type": "separator"}, {"type": "button", "action": "reset", "label": "重置"}))
    assert validator.validate({}) == {}
    assert validator.variables == frozenset()


# ---------------------------------------------------------------- groups, paths and lists

def test_group_without_path_flattens_and_group_with_path_nests():
    validator = FormValidator.from_definition(form(
        {"type": "group", "label": "基本信息", "components": [
            {"type": "textfield", "key": "name", "label": "姓名"}]},
        {"type": "group", "label": "监护人", "path": "guardian.primary", "components": [
            {"type": "textfield", "key": "name", "label": "监护人姓名", "validate": {"required": True}},
            {"type": "textfield", "key": "contact.phone", "label": "监护人电话"}]}))
    data = {"name": "李明", "guardian": {"primary": {"name": "李强", "contact": {"phone": "+8613800138000"}}}}
    assert validator.validate(data) == data
    assert validator.variables == {"name", "guardian"}
    assert rejects(validator, {"guardian": {"primary": {}}}) == {"guardian.primary.name": ["监护人姓名: 必填"]}
    assert rejects(validator, {"guardian": {"primary": {"name": "李强", "age": 40}}}) == {
        "guardian.primary.age": ["未知字段 guardian.primary.age"]}
    assert rejects(validator, {"guardian": "李强"}) == {
        "guardian": ["guardian: 必须是对象"], "guardian.primary.name": ["监护人姓名: 必填"]}


DYNAMIC = form(
    {"type": "textfield", "key": "case_no", "label": "个案编号"},
    {"type": "dynamiclist", "label": "紧急联系人", "path": "contacts", "isRepeating": True,
     "allowAddRemove": True, "defaultRepetitions": 1, "components": [
         {"type": "textfield", "key": "name", "label": "联系人姓名", "validate": {"required": True}},
         {"type": "select", "key": "relation", "label": "关系",
          "values": [{"label": "父亲", "value": "father"}, {"label": "母亲", "value": "mother"},
                     {"label": "其他", "value": "other"}]},
         {"type": "textfield", "key": "relation_note", "label": "关系说明",
          "conditional": {"hide": "=this.relation != \"other\""}, "validate": {"required": True}}]})


def test_dynamic_list_is_a_list_of_objects():
    validator = FormValidator.from_definition(DYNAMIC)
    data = {"case_no": "A1", "contacts": [{"name": "王芳", "relation": "mother"},
                                          {"name": "王伟", "relation": "other", "relation_note": "舅舅"}]}
    assert validator.validate(data) == data
    assert validator.validate({"contacts": []}) == {"contacts": []}


def test_dynamic_list_items_are_checked_one_by_one():
    validator = FormValidator.from_definition(DYNAMIC)
    fields = rejects(validator, {"contacts": [
        {"name": "王芳", "relation": "mother", "relation_note": "被丢弃"},
        {"relation": "other"},
        {"name": "王伟", "relation": "uncle", "phone": "1"},
        "王五"]})
    assert fields == {
        "contacts[1].name": ["联系人姓名: 必填"],
        "contacts[1].relation_note": ["关系说明: 必填"],
        "contacts[2].phone": ["未知字段 contacts[2].phone"],
        "contacts[2].relation": ["关系: 不是可选的选项"],
        "contacts[3]": ["contacts[3]: 必须是对象"],
    }
    assert rejects(validator, {"contacts": {"name": "王芳"}}) == {"contacts": ["contacts: 必须是列表"]}


def test_list_item_conditions_see_this_parent_and_the_index():
    validator = FormValidator.from_definition(form(
        {"type": "number", "key": "limit", "label": "上限"},
        {"type": "dynamiclist", "path": "visits", "components": [
            {"type": "textfield", "key": "note", "label": "随访记录", "validate": {"required": True},
             "conditional": {"hide": "=i[1] > parent.limit or this.skipped"}},
            {"type": "checkbox", "key": "skipped", "label": "未随访"}]}))
    fields = rejects(validator, {"limit": 2, "visits": [{}, {"skipped": True}, {}, {"note": "x"}]})
    assert fields == {"visits[0].note": ["随访记录: 必填"]}
    assert validator.validate({"limit": 2, "visits": [{"note": "a"}, {"note": "b"}, {}, {"note": "x"}]}) == {
        "limit": 2, "visits": [{"note": "a"}, {"note": "b"}, {}, {}]}


def test_dynamic_list_hidden_as_a_whole():
    hidden = copy.deepcopy(DYNAMIC)
    hidden["components"][1]["conditional"] = {"hide": "=case_no = null"}
    validator = FormValidator.from_definition(hidden)
    assert validator.validate({"contacts": [{"relation": "x"}]}) == {}


def test_readonly_and_disabled_values_are_ignored():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "student_id", "label": "学号", "readonly": True, "validate": {"required": True}},
        {"type": "number", "key": "age", "label": "年龄", "disabled": True},
        {"type": "textfield", "key": "summary", "label": "结论", "readonly": "=status = \"closed\""},
        {"type": "group", "readonly": True, "components": [{"type": "checkbox", "key": "flag", "label": "标记"}]}))
    assert validator.validate({"student_id": "forged", "age": "any", "flag": True, "summary": "新结论"}) == {
        "summary": "新结论"}
    assert validator.validate({"summary": "新结论"}, context={"status": "closed"}) == {}


def test_a_forged_readonly_value_cannot_switch_conditions():
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "status", "label": "状态", "readonly": True},
        {"type": "textarea", "key": "reason", "label": "结案理由", "validate": {"required": True},
         "conditional": {"hide": "=status != \"closing\""}}))
    assert rejects(validator, {"status": "open"}, context={"status": "closing"}) == {"reason": ["结案理由: 必填"]}
    assert validator.validate({"status": "closing"}, context={"status": "open"}) == {}


def test_expression_fields_are_recomputed_on_the_server():
    validator = FormValidator.from_definition(form(
        {"type": "number", "key": "q1", "label": "第1题", "validate": {"min": 0, "max": 3}},
        {"type": "number", "key": "q2", "label": "第2题", "validate": {"min": 0, "max": 3}},
        {"type": "expression", "key": "total", "expression": "=q1 + q2", "computeOn": "presubmit"},
        {"type": "expression", "key": "band", "computeOn": "change",
         "expression": '=if q1 + q2 >= 5 then "high" else "low"'}))
    assert validator.validate({"q1": 2, "q2": 3, "total": 99, "band": "low"}) == {
        "q1": 2, "q2": 3, "total": 5, "band": "high"}
    assert validator.validate({"q1": 1}) == {"q1": 1, "total": None, "band": "low"}


def test_unknown_keys_are_refused(screening):
    assert rejects(screening, {**GOOD, "__proto__": 1, "risk_notes": "x"}) == {
        "__proto__": ["未知字段 __proto__"], "risk_notes": ["未知字段 risk_notes"]}
    with pytest.raises(FormInvalid) as caught:
        screening.validate({**GOOD, "x": 1})
    assert caught.value.fields_en == {"x": ["unknown field x (not a field of this form)"]}


def test_submission_must_be_an_object(screening):
    for data in ([GOOD], "x", None, 3):
        assert rejects(screening, data) == {"_form": ["提交的数据必须是 JSON 对象"]}


def test_keys_that_shadow_marshmallow_names_work():
    keys = ["load", "fields", "validate", "Meta", "opts", "dump", "context", "error_messages"]
    validator = FormValidator.from_definition(form(*[{"type": "textfield", "key": k, "label": k} for k in keys]))
    data = {k: k.upper() for k in keys}
    assert validator.validate(data) == data
    assert isinstance(validator.validate({}), dict)


def test_hostile_hide_expressions_and_data():
    problems = check_form(form({"type": "textfield", "key": "a", "conditional": {"hide": '=__import__("os")'}}))
    assert [p.path for p in problems] == ["components[0].conditional.hide"]
    assert "不支持的函数" in problems[0].message
    validator = FormValidator.from_definition(form(
        {"type": "textfield", "key": "a", "conditional": {"hide": "=__builtins__ != null or a.__class__ != null"}}))
    assert validator.validate({"a": "x"}) == {"a": "x"}            # undefined names are null: not hidden
    deep: dict = {}
    for _ in range(200):
        deep = {"a": deep}
    assert "a" in rejects(validator, deep)


# ---------------------------------------------------------------- definition problems

def problems_of(*components, **top) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in check_form({**form(*components), **top}, "t.form.json")]


def paths_of(*components, **top) -> list[str]:
    return [path for path, _ in problems_of(*components, **top)]


def test_problem_format():
    [problem] = check_form(form({"type": "textfield", "key": "_secret"}), "school/screening.form.json")
    assert isinstance(problem, FormProblem)
    assert (problem.source, problem.path, problem.key) == ("school/screening.form.json", "components[0].key", "_secret")
    assert str(problem).startswith("school/screening.form.json: components[0].key (_secret): ")
    with pytest.raises(Exception):
        problem.path = "x"                                                     # frozen


def test_form_level_problems():
    assert [p.path for p in check_form("{not json")] == [""]
    assert "JSON" in check_form(b"\xff\xfe")[0].message
    assert check_form([1, 2])[0].message.startswith("表单必须是 JSON 对象")
    assert paths_of(type="custom") == ["type"]
    assert [p.path for p in check_form({"type": "default", "components": {}})] == ["components"]
    assert [p.path for p in check_form({"type": "default", "components": [{"x": set()}]})] == [""]
    big = form({"type": "text", "text": "字" * 100_000})
    assert "KB" in check_form(big)[0].message
    many = form(*[{"type": "spacer"} for _ in range(501)])
    assert [p.path for p in check_form(many)] == ["components[500]"]
    nested: dict = {"type": "textfield", "key": "x"}
    for _ in range(20):
        nested = {"type": "group", "components": [nested]}
    assert "嵌套" in check_form(form(nested))[0].message


@pytest.mark.parametrize("key", ["_secret", "class", "None", "学生", "a-b", "a..b", "a.", "1a", "", None, 3])
def test_keys_must_be_usable_as_variables(key):
    component = {"type": "textfield", "label": "x"}
    if key is not None:
        component["key"] = key
    assert paths_of(component) == ["components[0].key"]


def test_dotted_keys_are_paths():
    assert paths_of({"type": "textfield", "key": "patient.age"}) == []
    validator = FormValidator.from_definition(form({"type": "number", "key": "patient.age", "label": "年龄"}))
    assert validator.validate({"patient": {"age": 15}}) == {"patient": {"age": 15}}


def test_duplicate_and_conflicting_keys():
    assert problems_of({"type": "textfield", "key": "a"}, {"type": "number", "key": "a"}) == [
        ("components[1].key", "与另一字段的键重复 (duplicate key)")]
    assert paths_of({"type": "textfield", "key": "a"}, {"type": "textfield", "key": "a.b"}) == ["components[1].key"]
    assert paths_of({"type": "textfield", "key": "a.b"}, {"type": "textfield", "key": "a"}) == ["components[1].key"]
    assert paths_of({"type": "textfield", "key": "p"},
                    {"type": "group", "path": "p", "components": [{"type": "textfield", "key": "q"}]}) == [
        "components[1].path"]
    assert paths_of({"type": "group", "components": [{"type": "textfield", "key": "a"}]},
                    {"type": "textfield", "key": "a"}) == ["components[1].key"]
    # Two groups may share a path; a dynamic list item scope is separate.
    assert paths_of({"type": "group", "path": "p", "components": [{"type": "textfield", "key": "a"}]},
                    {"type": "group", "path": "p", "components": [{"type": "textfield", "key": "b"}]},
                    {"type": "dynamiclist", "path": "items", "components": [{"type": "textfield", "key": "a"}]}) == []


def test_component_type_problems():
    assert problems_of({"type": "signature", "key": "s"})[0][1].startswith("未知的组件类型 'signature'")
    assert "不支持的组件类型 filepicker" in problems_of({"type": "filepicker", "key": "f"})[0][1]
    assert paths_of("textfield") == ["components[0]"]
    assert paths_of({"type": "dynamiclist", "components": []}) == ["components[0].path"]
    assert paths_of({"type": "group", "components": "x"}) == ["components[0].components"]


def test_option_problems():
    assert "不支持动态选项" in problems_of({"type": "select", "key": "s", "valuesKey": "schools"})[0][1]
    assert paths_of({"type": "radio", "key": "r", "valuesExpression": "=options"}) == ["components[0].values"]
    assert paths_of({"type": "checklist", "key": "c"}) == ["components[0].values"]
    assert paths_of({"type": "taglist", "key": "t", "values": []}) == ["components[0].values"]
    assert paths_of({"type": "select", "key": "s", "values": [
        {"label": "a", "value": "a"}, {"label": "b", "value": True}, {"label": "c"}, {"label": "a2", "value": "a"},
        {"label": "one", "value": 1}, {"label": "one again", "value": 1.0}]}) == [
        "components[0].values[1]", "components[0].values[2]", "components[0].values[3]", "components[0].values[5]"]


def test_validate_problems():
    assert problems_of({"type": "number", "key": "n", "validate": {"min": 27, "max": 0}}) == [
        ("components[0].validate.min", "min 大于 max (min is greater than max)")]
    assert paths_of({"type": "textfield", "key": "t", "validate": {"minLength": 9, "maxLength": 3}}) == [
        "components[0].validate.minLength"]
    assert paths_of({"type": "textfield", "key": "t", "validate": {"minLength": -1, "maxLength": 2.5}}) == [
        "components[0].validate.minLength", "components[0].validate.maxLength"]
    assert "不支持表达式" in problems_of({"type": "number", "key": "n", "validate": {"max": "=limit"}})[0][1]
    assert paths_of({"type": "number", "key": "n", "validate": {"min": "zero", "required": "yes"}}) == [
        "components[0].validate.required", "components[0].validate.min"]
    assert paths_of({"type": "checkbox", "key": "c", "validate": {"min": 1, "pattern": "x"}}) == [
        "components[0].validate.min", "components[0].validate.pattern"]
    assert paths_of({"type": "textfield", "key": "t", "validate": {"validationType": "idcard"}}) == [
        "components[0].validate.validationType"]
    assert paths_of({"type": "textfield", "key": "t", "validate": "required"}) == ["components[0].validate"]


@pytest.mark.parametrize("pattern, fragment", [
    ("([a-z]+", "无法编译"),
    ("(?<year>[0-9]{4})", "无法编译"),
    ("(a+)+$", "嵌套"),
    ("^(\\w+\\s?)*$", "嵌套"),
    ("x" * 201, "超过 200"),
])
def test_bad_and_pathological_patterns(pattern, fragment):
    [(path, message)] = problems_of({"type": "textfield", "key": "t", "validate": {"pattern": pattern}})
    assert path == "components[0].validate.pattern" and fragment in message


def test_expression_problems():
    assert paths_of({"type": "textfield", "key": "t", "conditional": {"hide": "risk = 1"}}) == [
        "components[0].conditional.hide"]
    [(path, message)] = problems_of({"type": "textfield", "key": "t", "conditional": {"hide": "=risk = = 1"}})
    assert path == "components[0].conditional.hide" and "位置 8" in message
    assert paths_of({"type": "text", "text": "x", "conditional": {"hide": "=("}}) == ["components[0].conditional.hide"]
    assert paths_of({"type": "textfield", "key": "t", "readonly": "yes"}) == ["components[0].readonly"]
    assert paths_of({"type": "textfield", "key": "t", "conditional": "=x"}) == ["components[0].conditional"]
    assert paths_of({"type": "expression", "key": "e"}) == ["components[0].expression"]
    assert paths_of({"type": "textfield", "key": "t", "conditional": {"hide": "=" + "a or " * 120 + "b"}}) == [
        "components[0].conditional.hide"]


def test_number_and_datetime_property_problems():
    assert paths_of({"type": "number", "key": "n", "decimalDigits": "2", "increment": -1,
                     "serializeToString": "yes"}) == [
        "components[0].serializeToString", "components[0].decimalDigits", "components[0].increment"]
    assert paths_of({"type": "datetime", "key": "d", "subtype": "week", "timeSerializingFormat": "local"}) == [
        "components[0].subtype", "components[0].timeSerializingFormat"]


def test_from_definition_raises_with_every_problem():
    with pytest.raises(FormDefinitionError) as caught:
        FormValidator.from_definition(form({"type": "textfield", "key": "a"}, {"type": "textfield", "key": "a"},
                                           {"type": "number", "key": "_b"}), "bad.form.json")
    assert [p.path for p in caught.value.problems] == ["components[1].key", "components[2].key"]
    assert isinstance(caught.value, CarePathError) and "bad.form.json" in str(caught.value)


# ---------------------------------------------------------------- Camunda formField declarations

DECLARED = [
    {"id": "class_name", "label": "班级", "type": "string",
     "validation": [{"name": "required"}, {"name": "maxlength", "config": "10"}]},
    {"id": "phq9_score", "label": "筛查得分", "type": "long",
     "validation": [{"name": "required"}, {"name": "min", "config": "0"}, {"name": "max", "config": "27"}]},
    {"id": "guardian_consent", "label": "监护人已知情同意", "type": "boolean"},
    {"id": "risk_level", "label": "风险等级", "type": "enum",
     "values": [{"id": "low", "name": "低风险"}, {"id": "high", "name": "高风险"}]},
    {"id": "screened_on", "label": "筛查日期", "type": "date"},
    {"id": "case_no", "label": "个案编号", "type": "string", "validation": [{"name": "readonly"}]},
]


def test_declared_fields_are_validated_the_same_way():
    validator = FormValidator.from_declared(DECLARED)
    data = {"class_name": "3班", "phq9_score": 9, "guardian_consent": False, "risk_level": "high",
            "screened_on": "2026-11-02"}
    assert validator.validate({**data, "case_no": "forged"}) == data
    assert rejects(validator, {"class_name": "", "phq9_score": 9.5, "risk_level": "medium",
                               "screened_on": "02/11/2026", "extra": 1}) == {
        "class_name": ["班级: 必填"],
        "extra": ["未知字段 extra"],
        "phq9_score": ["筛查得分: 必须是整数"],
        "risk_level": ["风险等级: 不是可选的选项"],
        "screened_on": ["筛查日期: 格式不正确，应如 2026-11-02"],
    }
    assert rejects(validator, {"class_name": "3班", "phq9_score": 30}) == {"phq9_score": ["筛查得分: 不能大于 27"]}


def test_declared_field_problems():
    form_json, problems = declared_to_form([
        {"id": "a", "type": "custom"}, "x",
        {"id": "b", "type": "string", "validation": [{"name": "validator", "config": "com.example.V"},
                                                    {"name": "maxlength", "config": "ten"}]}])
    assert [p.path for p in problems] == ["formField[0]", "formField[1]", "formField[2].validation[0]",
                                          "formField[2].validation[1]"]
    assert [c["key"] for c in form_json["components"]] == ["b"]
    with pytest.raises(FormDefinitionError):
        FormValidator.from_declared([{"id": "a", "type": "custom"}])
    with pytest.raises(FormDefinitionError) as caught:
        FormValidator.from_declared([{"id": "_a", "type": "string"}])
    assert caught.value.problems[0].path == "components[0].key"


def test_a_task_that_declares_nothing_accepts_only_an_empty_submission():
    validator = FormValidator.nothing()
    assert validator.validate({}) == {}
    assert validator.variables == frozenset()
    with pytest.raises(FormInvalid) as caught:
        validator.validate({"approved": True, "note": "x"})
    assert caught.value.fields == {"approved": ["此任务未声明任何字段，不能提交数据 approved"],
                                   "note": ["此任务未声明任何字段，不能提交数据 note"]}
    assert caught.value.fields_en["approved"] == ["unknown field approved (not a field of this form)"]
