"""People and FHIR R4 export: a person's journey across agencies, as the person page gives it to
the caller, and the person's pathways as FHIR resources (engine.fhir). Each read is the engine's
own: jurisdiction, then tiers, then the audit of the read. A record the caller may not read answers
404 exactly like one that does not exist.

FHIR paths: `Patient/{ref}/$everything` is R4's operation for "everything about this patient"
(here a `collection` Bundle: the Patient, a CarePlan per pathway instance the caller may view, its
Tasks); `{ref}` is the person's CarePath reference, the Patient's identifier in
urn:carepath:person, which is what outside systems hold. `CarePlan/{id}/$everything` is the same
for one instance (the plan, its Tasks and its Patient), since the engine gives the plan together
with what its references point at. `Task/{id}` is a plain read: one Task with relative
references. FHIR answers are `application/fhir+json`; errors are CarePath JSON errors
(`application/json`, `{code, message, status}`), not OperationOutcome."""
from __future__ import annotations

import json

from flask import Response
from flask_babel import gettext as _

from engine import fhir as fhir_export
from engine import records
from engine.errors import NotFound, PermissionDenied

from ..runtime import engine
from . import schemas_records as schemas
from .common import SECURITY, api_blueprint, caller, requires
from .schemas import ApiError

people = api_blueprint("api_people", __name__, "服务对象：跨部门的服务历程（按辖区与数据分级，读取留痕）")
fhir = api_blueprint("api_fhir", __name__, "FHIR R4 导出：服务对象（Patient）、路径实例（CarePlan）与任务（Task）")

FHIR_JSON = "application/fhir+json"
NOT_VISIBLE = {"schema": ApiError, "description": "不存在或不在您的辖区内（两者的回答相同）；CarePath 的 JSON 错误"}


@people.route("/people/<int:person_id>")
@people.doc(security=SECURITY)
@people.response(200, schemas.PersonJourney)
@people.alt_response(404, **NOT_VISIBLE)
@requires("people:read")
def show(person_id: int):
    """一名服务对象及其服务历程：与人员页面所示相同（按辖区与数据分级，读取留痕）"""
    try:
        return records.person_for_user(engine(), person_id, caller().username)
    except (NotFound, PermissionDenied):
        raise NotFound(_("%(kind)s %(id)d 不存在或不在您的辖区内", kind=_("服务对象"), id=person_id)) from None


def _fhir_json(resource: dict) -> Response:
    return Response(json.dumps(resource, ensure_ascii=False), content_type=f"{FHIR_JSON}; charset=utf-8")


def _fhir_doc(what: str) -> dict:
    return {"schema": {"type": "object", "description": f"FHIR R4 {what}"}, "content_type": FHIR_JSON,
            "description": f"FHIR R4 {what}（application/fhir+json）"}


@fhir.route("/fhir/Patient/<path:ref>/$everything")
@fhir.doc(security=SECURITY)
@fhir.response(200, **_fhir_doc("Bundle（type=collection）：Patient、各 CarePlan 及其 Task"))
@fhir.alt_response(404, **NOT_VISIBLE)
@requires("fhir:read")
def patient_everything(ref: str):
    """服务对象的全部路径（FHIR R4 Bundle）：Patient，以及您可查看的每个实例的 CarePlan 与 Task（读取留痕）"""
    try:
        return _fhir_json(fhir_export.person_bundle(engine(), caller().username, ref))
    except (NotFound, PermissionDenied):
        raise NotFound(_("该服务对象不存在或不在您的辖区内")) from None


@fhir.route("/fhir/CarePlan/<int:instance_id>/$everything")
@fhir.doc(security=SECURITY)
@fhir.response(200, **_fhir_doc("Bundle（type=collection）：CarePlan、其 Task 与 Patient"))
@fhir.alt_response(404, **NOT_VISIBLE)
@requires("fhir:read")
def careplan_everything(instance_id: int):
    """一个路径实例（FHIR R4 Bundle）：CarePlan、其 Task 与 Patient（仅可读基本信息者见其身份；读取留痕）"""
    try:
        return _fhir_json(fhir_export.careplan_of_instance(engine(), caller().username, instance_id))
    except (NotFound, PermissionDenied):
        raise NotFound(_("%(kind)s %(id)d 不存在或不在您的辖区内", kind=_("实例"), id=instance_id)) from None


@fhir.route("/fhir/Task/<int:task_id>")
@fhir.doc(security=SECURITY)
@fhir.response(200, **_fhir_doc("Task"))
@fhir.alt_response(404, **NOT_VISIBLE)
@requires("fhir:read")
def task(task_id: int):
    """一个任务（FHIR R4 Task，引用为相对引用 CarePlan/…、Patient/…；读取留痕）"""
    return _fhir_json(fhir_export.task_resource(engine(), caller().username, task_id))
