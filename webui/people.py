"""Everyone, by access: a person's journey across agencies (/people/<id>) with the consents they
gave, one pathway instance (/instances/<id>) with its diagram, data (by tier), events and error
state, and break-glass (/people/<id>/break-glass). What the user may not see answers exactly like
what does not exist."""
from __future__ import annotations

from datetime import datetime, time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import records
from engine.agencies import AGENCIES, agency_label
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.privacy import services as privacy
from engine.privacy.tiers import TIERS, tier_label

from .auth import current_username
from .runtime import engine

bp = Blueprint("people", __name__)


def _visible(kind: str, ident: int, read, *args):
    """What `read` gives this user, or the same 404 whether the thing is missing or not theirs."""
    try:
        return read(engine(), ident, current_username(), *args)
    except (NotFound, PermissionDenied):
        raise NotFound(_("%(kind)s %(id)d 不存在或不在您的辖区内", kind=kind, id=ident)) from None


def _labels() -> dict:
    locale = str(get_locale())
    return {"tiers": {tier: tier_label(tier, locale) for tier in TIERS},
            "agencies": {code: agency_label(code, locale) for code in AGENCIES}}


@bp.route("/people/<int:person_id>")
def show(person_id: int):
    try:
        journey = records.person_for_user(engine(), person_id, current_username())
    except (NotFound, PermissionDenied):
        return _not_visible(person_id)
    diagrams = []
    for instance in journey["instances"]:
        try:
            diagrams.append(records.instance_for_user(engine(), instance["instance"], current_username()))
        except PermissionDenied:
            continue
    return render_template("people/journey.html", journey=journey, diagrams=diagrams, labels=_labels(),
                           today=engine().clock.local(engine().clock.now()).date())


def _not_visible(person_id: int):
    """The same 404 for a person who does not exist and one outside the user's scope; staff who
    read person data somewhere are offered break-glass."""
    return render_template("people/not_visible.html", person_id=person_id,
                           offer=privacy.offers_break_glass(engine(), current_username()),
                           minutes=engine().settings.break_glass_minutes), 404


@bp.route("/people/<int:person_id>/break-glass", methods=["POST"])
def break_glass(person_id: int):
    try:
        opened = privacy.break_glass(engine(), person_id, current_username(), request.form.get("reason", ""))
    except NotFound:
        raise NotFound(_("%(kind)s %(id)d 不存在或不在您的辖区内", kind=_("服务对象"), id=person_id)) from None
    flash(_("紧急查看已开启，至 %(until)s；本次查看已记录并通知督导。",
            until=engine().clock.local(opened["until"]).strftime("%Y-%m-%d %H:%M")), "warning")
    return redirect(url_for("people.show", person_id=person_id))


def _until(raw: str) -> datetime:
    try:
        day = datetime.strptime(raw or "", "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(_("授权截止日期应为 YYYY-MM-DD")) from None
    return datetime.combine(day, time(23, 59, 59), engine().settings.timezone)


@bp.route("/people/<int:person_id>/consents", methods=["POST"])
def record_consent(person_id: int):
    privacy.record_consent(engine(), person_id, current_username(), request.form.getlist("agencies"),
                           request.form.getlist("tiers"), _until(request.form.get("until", "")),
                           request.form.get("basis", ""))
    flash(_("授权已登记。"), "success")
    return redirect(url_for("people.show", person_id=person_id) + "#consents")


@bp.route("/people/<int:person_id>/consents/<int:consent_id>/revoke", methods=["POST"])
def revoke_consent(person_id: int, consent_id: int):
    privacy.revoke_consent(engine(), person_id, consent_id, current_username(), request.form.get("reason", ""))
    flash(_("授权已撤回。"), "success")
    return redirect(url_for("people.show", person_id=person_id) + "#consents")


@bp.route("/instances/<int:instance_id>")
def instance(instance_id: int):
    page = _visible(_("实例"), instance_id, records.instance_page_for_user)
    return render_template("people/instance.html", d=page["diagram"], detail=page["detail"], labels=_labels())


@bp.route("/instances/<int:instance_id>/diagram.bpmn")
def diagram_xml(instance_id: int):
    xml = _visible(_("实例"), instance_id, records.instance_bpmn_for_user, request.args.get("process"))
    return Response(xml, mimetype="application/xml")


@bp.route("/instances/<int:instance_id>/retry", methods=["POST"])
def retry(instance_id: int):
    outcome = records.retry_for_user(engine(), instance_id, current_username())
    if outcome.status == "error":
        flash(_("重试后仍然出错：%(message)s", message=(outcome.error or {}).get("message", "")), "error")
    else:
        flash(_("实例已恢复运行。"), "success")
    return redirect(url_for("people.instance", instance_id=instance_id))
