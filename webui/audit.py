"""Supervisors' audit screen (/audit): who read or did what to whose record, when, from where,
within the supervisor's jurisdiction; break-glass openings highlighted at the top; exports in CSV
and JSON with the same filters and scope. Reading the screen and exporting are audited."""
from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import audit as audit_log
from engine.errors import InvalidInput

from .auth import current_username
from .runtime import engine

bp = Blueprint("audit", __name__, url_prefix="/audit")
EXPORT_MAX_ROWS = 50_000
MAX_FILTER = 100
FILTER_KEYS = ("person", "user", "action", "since", "until")     # kept by the pager and the exports


def _filters() -> dict:
    """The filters typed on the screen, as the form shows them back."""
    args = request.args
    return {"person": (args.get("person") or "").strip()[:MAX_FILTER],
            "user": (args.get("user") or "").strip()[:MAX_FILTER],
            "actions": [code for code in args.getlist("action") if code][:20],
            "since": (args.get("since") or "").strip(), "until": (args.get("until") or "").strip()}


def _query(filters: dict) -> dict:
    """The filters as the engine takes them."""
    since, until = audit_log.day_bounds(engine(), filters["since"], filters["until"])
    return {"person": filters["person"] or None, "user": filters["user"] or None,
            "actions": filters["actions"] or None, "since": since, "until": until}


def _english() -> bool:
    return str(get_locale()) == "en"


@bp.route("")
def index():
    filters = _filters()
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        raise InvalidInput(_("参数应为整数")) from None
    screen = audit_log.audit_screen(engine(), current_username(), before_id=before, **_query(filters))
    english = _english()
    actions = list(audit_log.ACTION_LABELS)                  # grouped as the engine lists them
    kept = {key: values for key, values in request.args.to_dict(flat=False).items() if key in FILTER_KEYS}
    return render_template("audit/index.html", screen=screen, filters=filters, before=before, kept=kept,
                           actions=actions, label=lambda code: audit_log.action_label(code, english),
                           shown=_shown)


def _shown(value) -> str:
    """A detail value as read on screen: text as it is, anything else as JSON (Chinese kept)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


@bp.route("/export.<any(csv, json):fmt>")
def export(fmt: str):
    ctx = engine()
    document = audit_log.export_entries(ctx, fmt, actor=current_username(), scope_username=current_username(),
                                        max_rows=EXPORT_MAX_ROWS, unknown_person_is_empty=True,
                                        **_query(_filters()))
    stamp = ctx.clock.local().strftime("%Y%m%d-%H%M")
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    return Response(document.encode("utf-8"), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="carepath-audit-{stamp}.{fmt}"',
        "Content-Type": f"{mimetype}; charset=utf-8"})
