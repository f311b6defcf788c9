"""What every response carries (content security policy, no sniffing, no framing, same-origin
referrer, no caching of anything but static files), the session cookie's flags, templates with no
inline script, every POST refused without its CSRF token (and nothing changed), and the
JavaScript islands — form-js, bpmn-js with its properties panel and token simulation, the form
editor, the charts — working in Chromium under the policy without a single violation."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter, PathConverter

from engine.people import register_person
from engine.runtime import services
from engine.store.models import Base

from conftest import ROOT, SHANGHAI, deploy_pathways
from web import LiveServer, MovableClock, WebClient, log_in, require_bundles, text_of

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'")
VILLAGE = "510781001001"
TEMPLATES = ROOT / "webui" / "templates"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def site(region):
    """School screening deployed, 张一 waiting to be screened; the app's clock at Mon 2 Nov 10:00."""
    from webui import create_app
    deploy_pathways(region, "school_screening")
    at = region.at(nov(2, 9))
    person = register_person(at, "S-1", "张一", VILLAGE, gender="男", birth_date="2010-12-15")
    started = services.start_instance(at, "school_screening", VILLAGE,
                                      {"student_birth_date": "2010-12-15", "grade": "g9",
                                       "screening_date": "2026-11-02"}, person="S-1")
    clock = MovableClock(nov(2, 10))
    return create_app(region, now=clock.now), region, person["id"], started


def signed_in(app, username: str) -> WebClient:
    client = WebClient(app)
    assert client.login(username).status_code == 302
    return client


def assert_security_headers(response, cached: bool = False) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    if cached:
        assert "no-store" not in headers.get("Cache-Control", "")
    else:
        assert headers["Cache-Control"] == "no-store"


# --- headers and cookies -----------------------------------------------------------------------------

def test_every_response_carries_the_security_headers(site):
    app, _, person, started = site
    anonymous = WebClient(app)
    responses = {
        "sign-in page": anonymous.get("/login"),
        "redirect to sign-in": anonymous.get("/tasks"),
        "wrong password": anonymous.post("/login", {"username": "teacher_wang", "password": "wrong"}),
        "language switch": anonymous.get("/lang/en"),
    }
    teacher = signed_in(app, "teacher_wang")
    task = started.tasks[0]["id"]
    responses |= {
        "inbox": teacher.get("/tasks"),
        "task page": teacher.get(f"/tasks/{task}"),
        "journey": teacher.get(f"/people/{person}"),
        "diagram source": teacher.get(f"/instances/{started.instance}/diagram.bpmn"),
        "password page": teacher.get("/account/password"),
        "missing page": teacher.get("/no-such-page"),
        "refused form": teacher.post(f"/tasks/{task}", {"action": "claim"}, csrf=False),
    }
    expected = {"sign-in page": 200, "redirect to sign-in": 302, "wrong password": 401, "language switch": 302,
                "inbox": 200, "task page": 200, "journey": 200, "diagram source": 200, "password page": 200,
                "missing page": 404, "refused form": 400}
    assert {label: r.status_code for label, r in responses.items()} == expected
    for label, response in responses.items():
        assert_security_headers(response), label
    static = teacher.get("/static/css/app.css")
    assert static.status_code == 200
    assert_security_headers(static, cached=True)
    static.close()


def cookie_header(response, name: str) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header


def test_the_session_cookie_is_http_only_same_site_lax_and_lasts_session_hours(site):
    app, *_ = site
    client = WebClient(app)
    client.get("/login")
    response = client.post("/login", {"username": "teacher_wang", "password": "carepath-demo"})
    cookie = cookie_header(response, "carepath-session")
    flags = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/" in flags and "Secure" not in flags
    assert any(flag.startswith("Expires=") for flag in flags)            # permanent: 8 hours
    assert app.permanent_session_lifetime.total_seconds() == 8 * 3600


def test_over_https_the_cookie_is_secure_and_bound_to_the_host(site):
    from engine.context import EngineContext
    from webui import create_app
    _, region, *_ = site
    secure = EngineContext(region.settings.with_(secure_cookies=True, session_hours=2), db=region.db)
    app = create_app(secure, now=MovableClock(nov(2, 10)).now)
    client = WebClient(app)
    client.get("/login", base_url="https://localhost")
    form = {"username": "teacher_wang", "password": "carepath-demo"}
    # Over HTTPS Flask-WTF also wants a same-origin Referer, which Referrer-Policy same-origin keeps.
    assert client.post("/login", form, base_url="https://localhost").status_code == 400
    response = client.post("/login", form, base_url="https://localhost",
                           headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    cookie = cookie_header(response, "__Host-carepath-session")
    flags = [part.strip() for part in cookie.split(";")]
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} <= set(flags)
    assert not any(flag.lower().startswith("domain=") for flag in flags)   # __Host- forbids a Domain
    assert app.permanent_session_lifetime.total_seconds() == 2 * 3600
    assert client.get("/tasks", base_url="https://localhost").status_code == 200


# --- templates ---------------------------------------------------------------------------------------

def test_no_template_has_an_inline_script_or_an_event_handler_attribute():
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text, name = path.read_text(encoding="utf-8"), str(path.relative_to(TEMPLATES))
        for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script\s*>", text, re.S | re.I):
            if "src=" not in attributes or body.strip():
                problems.append(f"{name}: inline <script>{body.strip()[:40]}")
        if re.search(r"<script\b(?![^>]*\bsrc=)", text, re.I):
            problems.append(f"{name}: <script> without src")
        problems += [f"{name}: {m.group(0)}" for m in re.finditer(r"<[^>]*\son[a-z]+\s*=", text, re.I)]
        problems += [f"{name}: javascript: URL" for _ in re.finditer(r"javascript:", text, re.I)]
    assert len(list(TEMPLATES.rglob("*.html"))) > 20
    assert problems == []


# --- CSRF on every POST ------------------------------------------------------------------------------

def placeholder(rule, name: str):
    converter = rule._converters[name]
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, PathConverter):
        return "school_screening/screening.form"
    return "school_screening"


def row_counts(ctx) -> dict[str, int]:
    with ctx.db.unit_of_work() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def test_every_post_without_the_csrf_token_is_refused_and_changes_nothing(site):
    app, ctx, _, started = site
    analyst = signed_in(app, "analyst_xu")
    adapter = app.url_map.bind("localhost")
    rules = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    endpoints = {rule.endpoint for rule in rules}
    assert {"auth.login", "auth.logout", "account.password", "tasks.act", "escalations.act",
            "modeler.save", "modeler.deploy", "people.retry"} <= endpoints, endpoints
    before = row_counts(ctx)
    assert before["audit_log"] > 0 and before["events"] > 0 and before["login_attempts"] > 0
    answered = {}
    for rule in rules:
        url = adapter.build(rule.endpoint, {name: placeholder(rule, name) for name in rule.arguments},
                            method="POST")
        response = analyst.post(url, {"action": "claim", "username": "analyst_xu", "password": "carepath-demo",
                                      "current": "carepath-demo", "new": "Jiangyou-river-2026",
                                      "confirm": "Jiangyou-river-2026", "comment": "v2", "reason": "x"},
                                csrf=False)
        refused = (response.get_json()["code"] == "csrf" if url.startswith("/api/")    # the API's JSON
                   else "表单已失效" in text_of(response))
        answered[url] = (response.status_code, refused)
    assert answered == {url: (400, True) for url in answered}
    assert row_counts(ctx) == before
    assert analyst.get("/tasks").status_code == 200                     # still signed in, nothing else


# --- the islands in Chromium, under the policy ---------------------------------------------------------

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));
"""


def watched(new_page, url: str):
    page = new_page(url)
    page.add_init_script(WATCH_VIOLATIONS)
    page.console_csp = []
    page.on("console", lambda message: page.console_csp.append(message.text)
            if "Content Security Policy" in message.text else None)
    return page


def violations(page) -> list[str]:
    return page.evaluate("() => window.__csp") + page.console_csp


def islands_ready(page, selector: str) -> None:
    page.wait_for_selector(f"{selector}[data-ready=true]")
    assert page.locator("[data-error]").count() == 0


def test_the_islands_work_in_chromium_with_no_policy_violation(site, new_page):
    app, ctx, person, started = site
    require_bundles()
    task = started.tasks[0]["id"]
    with LiveServer(app) as server:
        teacher = watched(new_page, server.url)
        log_in(teacher, "teacher_wang")
        teacher.goto(f"/tasks/{task}")                                       # form-js
        islands_ready(teacher, ".cp-form")
        teacher.get_by_label("PHQ-9 总分").fill("14")
        teacher.goto(f"/people/{person}")                                    # bpmn-js viewer
        islands_ready(teacher, ".cp-diagram")
        assert teacher.locator(".cp-diagram .djs-container").count() >= 1
        assert violations(teacher) == [] and teacher.js_errors == []

        # The policy is enforced: an injected inline script does not run and is reported.
        ran = teacher.evaluate("""() => { const s = document.createElement('script');
            s.textContent = 'window.__inlineRan = true'; document.body.appendChild(s);
            return window.__inlineRan === true; }""")
        assert ran is False
        teacher.wait_for_timeout(200)
        assert any("script-src" in v for v in violations(teacher))

        supervisor = watched(new_page, server.url)
        log_in(supervisor, "health_sup_jy")
        supervisor.goto("/dashboard")                                        # chart.js
        islands_ready(supervisor, ".cp-chart")
        assert violations(supervisor) == [] and supervisor.js_errors == []

        analyst = watched(new_page, server.url)
        log_in(analyst, "analyst_xu")
        analyst.goto("/modeler/pathways/school_screening")                   # bpmn-js modeler
        islands_ready(analyst, ".cp-modeler")
        analyst.locator('g.djs-element[data-element-id="remote_consult"]').click()
        due = analyst.locator("#bio-properties-panel-dueDate")                # the properties panel
        assert due.input_value() == "${workdays(2)}"
        due.fill("${workdays(3)}")
        simulate = analyst.locator("button.cp-modeler-simulate")             # token simulation
        simulate.click()
        assert simulate.get_attribute("aria-pressed") == "true"
        simulate.click()
        analyst.goto("/modeler/forms/edit/school_screening/remote_consult.form")   # form-js editor
        islands_ready(analyst, ".cp-form-editor")
        analyst.locator(".fjs-editor-container .fjs-form-field", has_text="会诊方式").first.click()
        assert analyst.locator(".bio-properties-panel").count() >= 1
        assert violations(analyst) == [] and analyst.js_errors == []
