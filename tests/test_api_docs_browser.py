"""The API's interactive page (/api/v1/docs) in a real browser (Debian's Chromium driven by
Playwright): Swagger UI renders every operation of the OpenAPI document under the page's content
security policy, and a signed-in user tries one out — the inbox — with their browser session and
gets their own task back."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from engine.runtime import services

from conftest import SHANGHAI, deploy_pathways
from web import LiveServer, MovableClock, log_in, screenshot

VILLAGE = "510781001001"


@pytest.fixture
def live(region):
    from webui import create_app
    deploy_pathways(region, "school_screening")
    task = services.start_instance(region, "school_screening", VILLAGE).tasks[0]
    clock = MovableClock(datetime(2026, 11, 2, 10, tzinfo=SHANGHAI))
    with LiveServer(create_app(region, now=clock.now)) as server:
        yield server, task


def test_swagger_ui_shows_every_operation_and_a_signed_in_user_tries_the_inbox(live, new_page):
    server, task = live
    page = new_page(server.url)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    log_in(page, "teacher_wang")
    document = page.request.get("/api/v1/openapi.json").json()
    operations = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert len(operations) >= 25

    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock")
    shown = {(block.locator(".opblock-summary-method").inner_text().strip(),
              block.locator(".opblock-summary-path").get_attribute("data-path"))
             for block in page.locator(".opblock").all()}
    assert shown == operations
    assert "CarePath API" in page.locator(".info .title").inner_text()

    inbox = page.locator(".opblock-get:has(.opblock-summary-path[data-path='/api/v1/tasks'])")
    inbox.locator(".opblock-summary").click()
    inbox.locator(".try-out__btn").click()
    inbox.locator(".execute").click()
    status = inbox.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = json.loads(inbox.locator(".live-responses-table tbody .response-col_description .microlight").first.inner_text())
    assert [t["id"] for t in body["items"]] == [task["id"]]
    screenshot(page, "api-docs-try-inbox")
    assert violations == [] and page.js_errors == []
