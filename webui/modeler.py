"""The analysts' modeler (/modeler): the pathway library, the BPMN modeler with its properties
panel and lint, the form editor, versioned deploys, diffs between versions and the migration of
running instances. Only holders of `admin.analyst` get past the door.

Pages are rendered here; the modeler and form editor islands talk to the JSON endpoints below
(validate, save, deploy), which answer errors as `{"error": ..., "problems": [...]}`.
"""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import dryrun, migration, workspace, workspace_forms
from engine.errors import CarePathError, Conflict, InvalidInput, NotFound, PathwayInvalid, PermissionDenied

from .auth import current_username
from .runtime import engine

bp = Blueprint("modeler", __name__, url_prefix="/modeler")
_STATUS = {NotFound: 404, PermissionDenied: 403, Conflict: 409, PathwayInvalid: 422, InvalidInput: 400}


@bp.before_request
def analysts_only():
    if not workspace.is_analyst(engine(), current_username()):
        raise PermissionDenied(_("只有流程分析员（admin.analyst）可以使用路径建模。"))


def _locale() -> str:
    return "en" if str(get_locale() or "").startswith("en") else "zh"


def _json_error(err: CarePathError):
    status = next((code for kind, code in _STATUS.items() if isinstance(err, kind)), 400)
    body = {"error": err.message, "code": err.code}
    if isinstance(err, PathwayInvalid):
        body["problems"] = workspace.problems_json(err.problems)
    return jsonify(body), status


def _revision() -> int:
    try:
        return int(request.headers.get("X-Revision", ""))
    except ValueError:
        raise InvalidInput(_("缺少或无效的 X-Revision（草稿修订号）")) from None


def _download(data: bytes, filename: str, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


# --- the library -------------------------------------------------------------------------------

@bp.route("")
def library():
    query = request.args.get("q", "")
    pathways = workspace.library(engine(), current_username(), query)
    return render_template("modeler/library.html", pathways=pathways, query=query)


@bp.route("/new", methods=["POST"])
def new():
    try:
        saved = workspace.new_pathway(engine(), current_username(), request.form.get("process_id", ""),
                                      request.form.get("name", ""))
    except (InvalidInput, Conflict) as err:
        flash(err.message, "error")
        return redirect(url_for("modeler.library"))
    flash(_("已新建路径 %(id)s（草稿，尚未部署）。", id=saved.key), "success")
    return redirect(url_for("modeler.editor", process_id=saved.key))


@bp.route("/import", methods=["POST"])
def import_file():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要导入的 .bpmn 文件。"), "error")
        return redirect(url_for("modeler.library"))
    try:
        saved = workspace.import_pathway(engine(), current_username(), upload.filename,
                                         upload.read(engine().settings.max_bpmn_bytes + 1))
    except (InvalidInput, Conflict) as err:
        flash(err.message, "error")
        return redirect(url_for("modeler.library"))
    if saved.problems:
        flash(_("已导入 %(id)s 为草稿第 %(rev)d 版，发现 %(n)d 个问题，部署前请修正。",
                id=saved.key, rev=saved.revision, n=len(saved.problems)), "error")
    else:
        flash(_("已导入 %(id)s 为草稿第 %(rev)d 版。", id=saved.key, rev=saved.revision), "success")
    return redirect(url_for("modeler.editor", process_id=saved.key))


# --- one pathway -------------------------------------------------------------------------------

@bp.route("/pathways/<process_id>")
def editor(process_id: str):
    ctx, username = engine(), current_username()
    info = workspace.pathway_info(ctx, username, process_id)
    _, revision = workspace.pathway_source(ctx, username, process_id)
    config = workspace.editor_config(ctx, username, process_id, _locale())
    config["formEditorUrl"] = url_for("modeler.form_editor", key="__KEY__")
    return render_template("modeler/editor.html", info=info, revision=revision,
                           config=json.dumps(config, ensure_ascii=False))


@bp.route("/pathways/<process_id>/source.bpmn")
def source(process_id: str):
    version = request.args.get("version", type=int)
    data, _rev = workspace.pathway_source(engine(), current_username(), process_id, version)
    name = f"{process_id}.bpmn" if version is None else f"{process_id}.v{version}.bpmn"
    return _download(data, name, "application/xml")


@bp.route("/pathways/<process_id>/validate", methods=["POST"])
def validate(process_id: str):
    try:
        problems = workspace.validate_pathway(engine(), current_username(), process_id, request.get_data())
    except CarePathError as err:
        return _json_error(err)
    return jsonify({"problems": workspace.problems_json(problems)})


@bp.route("/pathways/<process_id>/save", methods=["POST"])
def save(process_id: str):
    try:
        saved = workspace.save_pathway(engine(), current_username(), process_id, request.get_data(),
                                       _revision())
    except CarePathError as err:
        return _json_error(err)
    return jsonify({"revision": saved.revision, "saved_at": engine().clock.local(saved.saved_at).strftime("%Y-%m-%d %H:%M"),
                    "problems": workspace.problems_json(saved.problems)})


@bp.route("/pathways/<process_id>/deploy", methods=["POST"])
def deploy(process_id: str):
    body = request.get_json(silent=True) or {}
    try:
        revision = int(body.get("revision", -1))
        result = workspace.deploy_pathway(engine(), current_username(), process_id, revision,
                                          str(body.get("comment") or ""))
    except (TypeError, ValueError):
        return jsonify({"error": _("请求格式有误：需要 comment 和 revision")}), 400
    except CarePathError as err:
        return _json_error(err)
    if result.changed:
        flash(_("已部署 %(id)s 第 %(v)d 版。运行中的实例仍在原版本上，可在下方迁移。",
                id=process_id, v=result.version), "success")
    else:
        flash(_("内容与第 %(v)d 版相同，没有产生新版本。", v=result.version), "info")
    return jsonify({"version": result.version, "changed": result.changed,
                    "url": url_for("modeler.editor", process_id=process_id)})


# --- versions: compare, migrate ---------------------------------------------------------------

@bp.route("/pathways/<process_id>/diff")
def diff(process_id: str):
    info = workspace.pathway_info(engine(), current_username(), process_id)
    to = request.args.get("to", type=int) or info["latest"]
    old = request.args.get("from", type=int) or (to - 1 if to else None)
    if not to or not old:
        raise NotFound(_("路径 %(id)s 只有一个版本，无可比较。", id=process_id))
    changes = migration.diff_versions_for_user(engine(), current_username(), process_id, old, to)
    markers_old = {"removed": [e.id for e in changes.removed], "changed": [e.id for e in changes.changed]}
    markers_new = {"added": [e.id for e in changes.added], "changed": [e.id for e in changes.changed]}
    return render_template("modeler/diff.html", info=info, old=old, to=to, diff=changes,
                           markers_old=markers_old, markers_new=markers_new)


def _selected_ids() -> list[int]:
    try:
        return [int(value) for value in request.form.getlist("instance")]
    except ValueError:
        raise InvalidInput(_("实例编号无效")) from None


@bp.route("/pathways/<process_id>/migrate", methods=["GET", "POST"])
def migrate(process_id: str):
    ctx, username = engine(), current_username()
    info = workspace.pathway_info(ctx, username, process_id)
    to = request.values.get("to", type=int) or info["latest"]
    if not to:
        raise NotFound(_("路径 %(id)s 尚未部署。", id=process_id))
    candidates = migration.candidates_for_user(ctx, username, process_id, to)
    plans, results, selected = {}, [], set()
    if request.method == "POST":
        ids = _selected_ids()
        selected = set(ids)
        if not ids:
            flash(_("请先勾选要迁移的实例。"), "error")
        elif request.form.get("action") == "migrate":
            expected = {int(key[5:]): int(value) for key, value in request.form.items()
                        if key.startswith("lock_") and key[5:].isdigit() and value.isdigit()}
            results = migration.migrate_instances_for_user(ctx, username, ids, candidates["target"]["id"],
                                                           expected=expected)
            moved = sum(1 for r in results if r.ok)
            flash(_("已迁移 %(n)d 个实例到第 %(v)d 版，%(m)d 个未迁移。", n=moved, v=to, m=len(results) - moved),
                  "success" if moved == len(results) else "error")
            candidates = migration.candidates_for_user(ctx, username, process_id, to)
        else:
            plans = {plan.instance: plan for plan in
                     migration.preview_migration_for_user(ctx, username, ids, candidates["target"]["id"])}
    return render_template("modeler/migrate.html", info=info, to=to, candidates=candidates, plans=plans,
                           results=results, selected=selected)


# --- forms -------------------------------------------------------------------------------------

@bp.route("/forms")
def forms():
    return render_template("modeler/forms.html", forms=workspace_forms.form_library(engine(), current_username()))


@bp.route("/forms/new", methods=["POST"])
def new_form():
    try:
        saved = workspace_forms.new_form(engine(), current_username(), request.form.get("key", ""),
                                   request.form.get("copy_of") or None)
    except (InvalidInput, Conflict, NotFound) as err:
        flash(err.message, "error")
        return redirect(url_for("modeler.forms"))
    return redirect(url_for("modeler.form_editor", key=saved.key))


@bp.route("/forms/edit/<path:key>")
def form_editor(key: str):
    _data, revision = workspace_forms.form_source(engine(), current_username(), key)
    config = {"formKey": key, "locale": _locale(), "readonly": False}
    return render_template("modeler/form_editor.html", key=key, revision=revision,
                           config=json.dumps(config, ensure_ascii=False))


@bp.route("/forms/source/<path:key>")
def form_source(key: str):
    data, _rev = workspace_forms.form_source(engine(), current_username(), key)
    return _download(data, key.rsplit("/", 1)[-1], "application/json")


@bp.route("/forms/save/<path:key>", methods=["POST"])
def form_save(key: str):
    try:
        saved = workspace_forms.save_form(engine(), current_username(), key, request.get_data(), _revision())
    except CarePathError as err:
        return _json_error(err)
    return jsonify({"revision": saved.revision, "saved_at": engine().clock.local(saved.saved_at).strftime("%Y-%m-%d %H:%M"),
                    "problems": saved.problems})


# --- dry run -----------------------------------------------------------------------------------

@bp.route("/pathways/<process_id>/dry-run", methods=["GET", "POST"])
def dry_run(process_id: str):
    ctx, username = engine(), current_username()
    info = workspace.pathway_info(ctx, username, process_id)
    units = dryrun.start_units(ctx, username)
    villages = [u for u in units if u["level"] == "village"]
    form = {"start": ctx.clock.local().strftime("%Y-%m-%dT%H:%M"),
            "org": (villages or units or [{"code": ""}])[0]["code"], "org_code": "", "variables": "{}",
            "pace": "at_once", "max_steps": "40"}
    run, error = None, None
    if request.method == "POST":
        form.update({key: request.form.get(key, form[key]).strip() for key in form})
        try:
            try:
                start = datetime.strptime(form["start"][:16], "%Y-%m-%dT%H:%M").replace(tzinfo=ctx.clock.tz)
            except ValueError:
                raise InvalidInput(_("开始时间无效，请按 年-月-日 时:分 填写")) from None
            try:
                variables = json.loads(form["variables"] or "{}")
            except json.JSONDecodeError as err:
                raise InvalidInput(_("变量不是有效的 JSON：%(e)s", e=str(err))) from None
            try:
                max_steps = int(form["max_steps"])
            except ValueError:
                raise InvalidInput(_("最大步数应为 1 到 200 之间的整数")) from None
            run = dryrun.dry_run(ctx, username, process_id, start, form["org_code"] or form["org"],
                                 variables, form["pace"], max_steps)
        except (InvalidInput, NotFound) as err:
            error = err.message
    return render_template("modeler/dryrun.html", info=info, units=units, form=form, run=run, error=error)
