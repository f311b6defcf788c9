"""Chinese by default, English on request (Flask-Babel). Messages are written in Chinese in the
code and templates; `translations/en/LC_MESSAGES/messages.po` carries the English. The catalogue
is compiled when the app starts (built files are not committed). Times show in the deployment
time zone."""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, redirect, request, session, url_for
from flask_babel import Babel, format_datetime, get_locale
from flask_babel import gettext as _

LOCALES = ("zh", "en")
HERE = Path(__file__).resolve().parent
SOURCE = HERE / "translations"


def compiled_translations() -> Path:
    """A directory of compiled catalogues for the current .po files (compiled once per content)."""
    sources = sorted(SOURCE.glob("*/LC_MESSAGES/messages.po"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"carepath-i18n-{digest}"
    for po_path in sources:
        locale = po_path.parent.parent.name
        mo_path = target / locale / "LC_MESSAGES" / "messages.mo"
        if not mo_path.exists():
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=locale)
            # One file per process and thread: two test processes may compile at once.
            partial = mo_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            with partial.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            partial.replace(mo_path)
    return target


def select_locale() -> str:
    chosen = session.get("lang")
    return chosen if chosen in LOCALES else "zh"


def init_app(app: Flask) -> None:
    tz = app.extensions["carepath"].ctx.settings.timezone
    app.config.update(BABEL_DEFAULT_LOCALE="zh", BABEL_DEFAULT_TIMEZONE=str(tz),
                      BABEL_TRANSLATION_DIRECTORIES=str(compiled_translations()))
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["remaining"] = remaining_text
    app.jinja_env.globals["locale"] = lambda: str(get_locale())
    app.add_url_rule("/lang/<code>", "set_language", set_language)


def set_language(code: str):
    if code in LOCALES:
        session["lang"] = code
    target = request.args.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("tasks.inbox")
    return redirect(target)


def when(instant: datetime | None, style: str = "short") -> str:
    """An instant in the deployment time zone: `2026年11月20日 18:00` / `Nov 20, 2026, 18:00`."""
    if instant is None:
        return "—"
    if style == "date":
        return format_datetime(instant, "yyyy-MM-dd")
    return format_datetime(instant, "yyyy-MM-dd HH:mm")


def remaining_text(remaining: dict | None) -> str:
    """Remaining working time as staff read it: 还剩 1 个工作日 / 1 working day left."""
    if not remaining:
        return _("无期限")
    days = remaining["workdays"]
    if remaining["overdue"]:
        late = -days
        return _("已超期 %(n)d 个工作日", n=late) if late else _("今日已超期")
    if days == 0:
        return _("今日到期")
    return _("还剩 %(n)d 个工作日", n=days)
