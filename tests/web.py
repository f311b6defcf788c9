"""The web UI under test: a real server on loopback with a clock the test moves, and Debian's
Chromium driven by Playwright (the Playwright browser download does not work on these machines)."""
from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parent.parent
BUNDLES = ROOT / "webui" / "static" / "dist"
ARTIFACTS = ROOT / "tests" / "artifacts"


class MovableClock:
    """The web app's now: set by the test, read by every request."""

    def __init__(self, start: datetime):
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment


class LiveServer:
    """The app served by werkzeug in a thread on a free loopback port."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)


def require_bundles() -> None:
    for name in ("form.js", "diagram.js", "chart.js", "modeler.js", "form-editor.js"):
        if not (BUNDLES / name).exists():
            pytest.fail(f"front-end bundle {name} is missing: `make test` builds it (npm ci + node build.mjs "
                        f"in webui/frontend)")


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed at /usr/bin/chromium: `.ci/run` (or `make test` as root) "
                    "installs it with apt-get")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, request):
    """A fresh browser context per user (its own cookies); screenshots go to tests/artifacts/."""
    contexts = []

    def open_page(base_url: str):
        context = chromium.new_context(base_url=base_url, viewport={"width": 1280, "height": 900},
                                       locale="zh-CN", timezone_id="Asia/Shanghai")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.js_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, username: str, password: str = "carepath-demo") -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


class WebClient:
    """Flask's test client as a signed-in user: CSRF tokens are taken from the pages, as a browser would."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def _remember_token(self, response) -> None:
        import re
        found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
        if found:
            self.token = found.group(1)

    def get(self, url: str, **kwargs):
        response = self.client.get(url, **kwargs)
        self._remember_token(response)
        return response

    def post(self, url: str, data: dict | None = None, csrf: bool = True, **kwargs):
        if csrf and self.token is None:
            self.get("/login")
        payload = {**({"csrf_token": self.token} if csrf else {}), **(data or {})}
        response = self.client.post(url, data=payload, **kwargs)
        self._remember_token(response)
        return response

    def login(self, username: str, password: str = "carepath-demo"):
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        self.get("/tasks")
        return response


def text_of(response) -> str:
    """The visible text of a page's main area, whitespace collapsed."""
    import re
    html = response.get_data(as_text=True)
    main = html.split("<main>", 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).strip()


def at_joint_plan(region):
    """张一's school screening taken to the joint plan: screened (PHQ-9 14) on Mon 2 Nov, confirmed by
    the city expert on Tue 3 Nov; the family doctor's part is due Tue 10 Nov 18:00 (5 working days).
    Returns (the deployment report, the person, the joint plan's task)."""
    from engine.people import register_person
    from engine.runtime import services

    from conftest import deploy_pathways
    from pathway_steps import do

    deployed = deploy_pathways(region, "school_screening")
    at = region.at(_nov(2, 9))
    person = register_person(at, "S-1", "张一", "510781001001", gender="男", birth_date="2010-12-15")
    services.start_instance(at, "school_screening", "510781001001", person="S-1")
    do(region, _nov(2, 10), "teacher_wang", "screening", {
        "student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
        "phq9_score": 14, "phq9_item9": 0})
    do(region, _nov(3, 10), "expert_chen", "remote_consult", {
        "consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作", "severity": "moderate",
        "expert_opinion": "视频会诊确认中度抑郁发作，建议家校医联合干预。"})
    [plan] = [t for t in services.list_tasks(region) if t["element"] == "joint_plan_medical"]
    return deployed, person, plan


def _nov(day: int, hour: int) -> datetime:
    from conftest import SHANGHAI
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def overdue(region):
    """张一's school screening, at the joint plan (`at_joint_plan`): the family doctor's part left
    undone has raised level 1 at its deadline and level 2 (江油市 health supervisor) a working day
    later; the app's clock at Thu 12 Nov 09:00.
    Returns (app, ctx, the plan's task, the deployment report, the person)."""
    from engine.runtime import services
    from webui import create_app

    deployed, person, plan = at_joint_plan(region)
    services.tick(region.at(_nov(10, 18)))
    services.tick(region.at(_nov(11, 18)))
    app = create_app(region, now=MovableClock(_nov(12, 9)).now)
    [plan] = [t for t in services.list_tasks(region) if t["id"] == plan["id"]]     # as escalated
    return app, region, plan, deployed, person
