"""The indicators page through the real app: who may watch which unit, the figures, and the
drill-down to the tasks behind them."""
from __future__ import annotations

import html
import json
import re

from web import WebClient, text_of


def signed_in(app, username):
    client = WebClient(app)
    client.login(username)
    return client


def test_the_county_supervisor_sees_the_overdue_plan_and_drills_down_to_it(overdue):
    app, ctx, plan, *_ = overdue
    supervisor = signed_in(app, "health_sup_jy")
    page = supervisor.get("/dashboard")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    totals = {key: re.search(rf'data-testid="{key}"[^>]*>([^<]+)<', body).group(1) for key in ("open", "overdue")}
    # Open: the family doctor's and the school psychologist's joint plans; both a working day late.
    assert totals == {"open": "2", "overdue": "2"}
    health = re.search(r'data-agency="health">(.*?)</tr>', body, re.S).group(1)
    assert re.findall(r">(\d+)<", health)[:3] == ["1", "1", "0"]     # open, overdue, completed
    charts = [json.loads(html.unescape(c)) for c in re.findall(r'data-chart="([^"]*)"', body)]
    assert {c["type"] for c in charts} == {"bar"} and all(len(c["links"]) == len(c["labels"]) for c in charts)
    drill = supervisor.get("/dashboard/tasks?state=overdue&agency=health")
    assert re.findall(r'data-task="(\d+)"', drill.get_data(as_text=True)) == [str(plan["id"])]
    assert f'/instances/{plan["instance"]}' in drill.get_data(as_text=True)
    # Drill into the township: the same figures, one level down.
    township = supervisor.get("/dashboard?org=510781001")
    assert re.search(r'data-testid="overdue"[^>]*>([^<]+)<', township.get_data(as_text=True)).group(1) == "2"


def test_only_supervisors_over_the_unit_watch_its_indicators(overdue):
    app, *_ = overdue
    doctor = signed_in(app, "fdoc_zhou")
    assert doctor.get("/dashboard").status_code == 403
    assert "指标" not in text_of(doctor.get("/tasks")).split("我的待办")[0]
    other_county = signed_in(app, "health_sup_fc")              # 涪城区
    assert other_county.get("/dashboard").status_code == 200
    assert other_county.get("/dashboard?org=510781").status_code == 403
    assert other_county.get("/dashboard/tasks?org=510781&state=overdue").status_code == 403
    assert signed_in(app, "health_sup_jy").get("/dashboard?days=12").status_code == 400
