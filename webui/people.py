"""Everyone, by access: a person's journey across agencies (/people/<id>) and one pathway
instance (/instances/<id>) with its diagram, data, events and error state. What the user may not
see answers exactly like what does not exist."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import journeys
from engine.errors import NotFound, PermissionDenied

from .auth import current_username
from .runtime import engine

bp = Blueprint("people", __name__)


def _visible(kind: str, ident: int, read, *args):
    """What `read` gives this user, or the same 404 whether the thing is missing or not theirs."""
    try:
        return read(engine(), ident, current_username(), *args)
    except (NotFound, PermissionDenied):
        raise NotFound(_("%(kind)s %(id)d 不存在或不在您的辖区内", kind=kind, id=ident)) from None


@bp.route("/people/<int:person_id>")
def show(person_id: int):
    journey = _visible(_("服务对象"), person_id, journeys.person_for_user)
    diagrams = []
    for instance in journey["instances"]:
        try:
            diagrams.append(journeys.instance_for_user(engine(), instance["instance"], current_username()))
        except PermissionDenied:
            continue
    return render_template("people/journey.html", journey=journey, diagrams=diagrams)


@bp.route("/instances/<int:instance_id>")
def instance(instance_id: int):
    diagram = _visible(_("实例"), instance_id, journeys.instance_for_user)
    from engine.runtime.queries import instance_detail
    detail = instance_detail(engine(), instance_id)
    return render_template("people/instance.html", d=diagram, detail=detail)


@bp.route("/instances/<int:instance_id>/diagram.bpmn")
def diagram_xml(instance_id: int):
    xml = _visible(_("实例"), instance_id, journeys.instance_bpmn_for_user, request.args.get("process"))
    return Response(xml, mimetype="application/xml")


@bp.route("/instances/<int:instance_id>/retry", methods=["POST"])
def retry(instance_id: int):
    outcome = journeys.retry_for_user(engine(), instance_id, current_username())
    if outcome.status == "error":
        flash(_("重试后仍然出错：%(message)s", message=(outcome.error or {}).get("message", "")), "error")
    else:
        flash(_("实例已恢复运行。"), "success")
    return redirect(url_for("people.instance", instance_id=instance_id))
