"""Pathways: the library (deployed pathways, their versions, a version's BPMN) and deploys — of the
workspace draft at the revision the caller saw (the modeler's deploy button), or of a BPMN file
sent with the request (the library's import, then deploy: how a pathway is deployed from version
control).

Who may is the workspace's rule (engine.workspace.require_analyst): only holders of
`admin.analyst`, as in the modeler; anyone else gets 403. A draft or file with problems is refused
with 422 listing each problem with its element and line (engine.errors.PathwayInvalid), and a
deploy from a stale revision with 409."""
from __future__ import annotations

from flask import Response, jsonify, request
from flask_babel import gettext as _
from marshmallow import ValidationError

from engine import workspace
from engine.errors import InvalidInput, PathwayInvalid, PermissionDenied

from ..runtime import engine
from . import schemas_records as schemas
from .common import SECURITY, api_blueprint, caller, error_response, requires
from .schemas import ApiError

pathways = api_blueprint("api_pathways", __name__,
                         "路径：路径库、版本与 BPMN 源文件，部署（仅流程分析员）")

REFUSED = {"schema": schemas.PathwayRefusal, "description": "BPMN 校验未通过：problems 列出每个问题及其元素与行号"}


def pathway_invalid(err: PathwayInvalid):
    response = jsonify({"code": err.code, "message": err.message, "status": 422,
                        "problems": workspace.problems_json(err.problems)})
    response.status_code = 422
    return response


pathways.register_error_handler(PathwayInvalid, pathway_invalid)


def _summary(entry: dict) -> dict:
    """A library entry with its newest version's deploy (versions are newest first)."""
    newest = entry["versions"][0] if entry["versions"] else {}
    return {**entry, "deployed_at": newest.get("deployed_at"), "deployed_by": newest.get("deployed_by")}


def _deployed(result):
    """201 when the deploy stored a new version, 200 when the content equals the newest one."""
    body = {"process_id": result.process_id, "version": result.version, "changed": result.changed,
            "name": result.name}
    return body, 201 if result.changed else 200


@pathways.route("/pathways")
@pathways.doc(security=SECURITY)
@pathways.arguments(schemas.PathwayQuery, location="query")
@pathways.response(200, schemas.PathwayList)
@requires("pathways:read")
def index(query):
    """路径库：已部署的路径及其最新版本（仅流程分析员）"""
    entries = workspace.library(engine(), caller().username, query.get("q"))
    return {"items": [_summary(e) for e in entries if query["drafts"] or e["latest"] is not None]}


@pathways.route("/pathways/<process_id>")
@pathways.doc(security=SECURITY)
@pathways.response(200, schemas.PathwayDetail)
@requires("pathways:read")
def show(process_id: str):
    """一条路径：各版本、运行中的实例数与工作区草稿（仅流程分析员）"""
    return _summary(workspace.pathway_info(engine(), caller().username, process_id))


@pathways.route("/pathways/<process_id>/versions")
@pathways.doc(security=SECURITY)
@pathways.response(200, schemas.PathwayVersionList)
@requires("pathways:read")
def versions(process_id: str):
    """一条路径的各版本：版本号、部署时间、部署人与部署说明，最新的在前（仅流程分析员）"""
    return {"items": workspace.pathway_info(engine(), caller().username, process_id)["versions"]}


@pathways.route("/pathways/<process_id>/versions/<int:version>/bpmn")
@pathways.doc(security=SECURITY)
@pathways.response(200, {"type": "string"}, content_type="application/xml",
                   description="该版本部署时的 BPMN 文件，逐字节不变")
@requires("pathways:read")
def bpmn(process_id: str, version: int):
    """一个版本的 BPMN 源文件（仅流程分析员）"""
    data, _revision = workspace.pathway_source(engine(), caller().username, process_id, version)
    return Response(data, mimetype="application/xml")


@pathways.route("/pathways/<process_id>/deploy", methods=["POST"])
@pathways.doc(security=SECURITY)
@pathways.arguments(schemas.DeployDraft)
@pathways.response(201, schemas.Deployed, description="已部署为新版本")
@pathways.alt_response(200, schema=schemas.Deployed, description="内容与最新版本相同，没有产生新版本")
@pathways.alt_response(409, schema=ApiError, description="草稿已被他人保存为更新的修订号：请重新读取后再部署")
@pathways.alt_response(422, **REFUSED)
@requires("pathways:deploy")
def deploy(body, process_id: str):
    """把工作区草稿（您所见的修订号）部署为新版本，规则同建模器的部署按钮（仅流程分析员）"""
    return _deployed(workspace.deploy_pathway(engine(), caller().username, process_id, body["revision"],
                                              body["comment"]))


@pathways.route("/pathways/<process_id>/versions", methods=["POST"])
@pathways.doc(security=SECURITY, requestBody={
    "required": True, "content": {"multipart/form-data": {"schema": schemas.DeployFile}}})
@pathways.response(201, schemas.Deployed, description="已部署为新版本")
@pathways.alt_response(200, schema=schemas.Deployed, description="内容与最新版本相同，没有产生新版本")
@pathways.alt_response(422, **REFUSED)
@requires("pathways:deploy")
def deploy_file(process_id: str):
    """部署上传的 BPMN 文件：先校验（有问题则不保存任何内容），再像路径库的导入那样替换工作区草稿并部署（仅流程分析员）"""
    ctx, username = engine(), caller().username
    if not workspace.is_analyst(ctx, username):
        raise PermissionDenied(_("只有流程分析员（admin.analyst）可以使用路径建模。"))
    try:
        form = schemas.DeployFile().load({**request.form.to_dict(), **request.files.to_dict()})
    except ValidationError as err:
        where = "; ".join(f"form.{field}" for field in err.messages)
        return error_response(422, "invalid_request", _("请求内容不符合要求: %(where)s", where=where),
                              {"form": err.messages})
    if not form["comment"].strip():
        raise InvalidInput(_("部署前请填写部署说明（改了什么、为什么）"))
    data = form["file"].read(ctx.settings.max_bpmn_bytes + 1)
    problems = workspace.validate_pathway(ctx, username, process_id, data)
    if problems:
        raise PathwayInvalid(_("%(n)d 个问题，未保存、未部署", n=len(problems)), problems)
    saved = workspace.import_pathway(ctx, username, form["file"].filename or f"{process_id}.bpmn", data)
    return _deployed(workspace.deploy_pathway(ctx, username, process_id, saved.revision, form["comment"]))
