"""Stored workload forecasts and their page (/simulations), on a real database and the real app:
a forecast saved (a result written here by hand, in the schema `carepath simulate` returns) is
listed, its page shows its parameters, totals, charts and load table, the load table downloads
as CSV; only supervisors and analysts see any of it; a missing forecast is a 404; the page reads
in English after the switch; deleting is audited. Last, the page in a real browser (Debian's
Chromium driven by Playwright) draws its four charts without errors."""
from __future__ import annotations

import copy
import csv
import html
import io
import json
import re
from datetime import datetime

import pytest

from engine.directory import parse_directory
from engine.errors import InvalidInput, NotFound
from engine.simulation import saved
from engine.store import audit as audit_repo

from conftest import DEMO_DIRECTORY, SHANGHAI, T0
from test_i18n import chinese_left, visible_text
from web import LiveServer, MovableClock, WebClient, log_in, require_bundles, screenshot, text_of

WEEKS = ["2027-03-01", "2027-03-08", "2027-03-15", "2027-03-22"]
DATES = [f"2027-03-{day:02d}" for day in range(1, 29)]


def load_row(role, role_name, org, org_name, level, staff, weekly, completed_weekly, queue, rate):
    queue_max, queue_mean, queue_end = queue
    return {"role": role, "role_name": role_name, "org": org, "org_name": org_name, "level": level,
            "staff": staff, "weekly": weekly, "completed_weekly": completed_weekly, "total": sum(weekly),
            "completed": sum(completed_weekly), "queue_max": queue_max, "queue_mean": queue_mean,
            "queue_end": queue_end, "on_time_rate": rate}


RESULT = {
    "pathway": "school_screening", "pathway_name": "学校心理筛查", "version": 1,
    "cohort": 200, "from": "2027-03-01", "days": 28, "seed": 7,
    "org": "510781", "org_name": "江油市", "branches": "history", "staff": "staff.yaml",
    "created_at": "2026-11-23T10:00:00+08:00", "seconds": 12.5, "weeks": WEEKS,
    "totals": {"people": 200, "instances": 212, "tasks": 400, "completed": 380, "open_at_end": 20,
               "on_time_rate": 0.91, "escalations": 12},
    "load": [
        # on time, nothing left: not marked
        load_row("education.teacher", "班主任", "510781001001", "太平村", "village", 2,
                 [10, 12, 9, 11], [9, 12, 10, 10], (5, 1.2, 0), 0.95),
        # the longest queue, and late: marked
        load_row("health.mh_center_expert", "精神卫生中心专家", "510700", "绵阳市", "city", 1,
                 [3, 8, 6, 4], [2, 6, 5, 5], (17, 6.4, 3), 0.62),
        # the same role at another village, on time but two left at the end: marked
        load_row("education.teacher", "班主任", "510781001002", "新安村", "village", None,
                 [4, 5, 7, 2], [4, 5, 6, 1], (9, 2.5, 2), None),
    ],
    "queue_daily": {"dates": DATES, "by_role": [
        {"role": "education.teacher", "role_name": "班主任", "values": [day % 6 for day in range(28)]},
        {"role": "health.mh_center_expert", "role_name": "精神卫生中心专家",
         "values": [min(day, 17) for day in range(28)]}]},
    "stages": [
        {"stage": "screening", "completed": 200, "completed_with_due": 200, "completed_on_time": 190, "late": 10,
         "open": 0, "overdue": 0, "on_time_rate": 0.95},
        {"stage": "referral", "completed": 19, "completed_with_due": 19, "completed_on_time": 12, "late": 7,
         "open": 2, "overdue": 1, "on_time_rate": 0.6316},
        {"stage": "treatment", "completed": 0, "completed_with_due": 0, "completed_on_time": 0, "late": 0,
         "open": 3, "overdue": 0, "on_time_rate": None}],
    "escalations": [
        {"level": 2, "count": 2, "by_agency": [{"agency": "health", "count": 2}]},
        {"level": 1, "count": 10, "by_agency": [{"agency": "education", "count": 7}, {"agency": "health", "count": 3}]}],
}
SUPERVISOR, ANALYST, TEACHER = "health_sup_jy", "analyst_xu", "teacher_wang"


@pytest.fixture
def app(region):
    from webui import create_app
    return create_app(region, now=MovableClock(T0).now)


def signed_in(app, username: str) -> WebClient:
    client = WebClient(app)
    client.login(username)
    return client


def charts_of(body: str) -> dict[str, dict]:
    return {name: json.loads(html.unescape(spec))
            for name, spec in re.findall(r'data-name="([^"]+)" data-chart="([^"]*)"', body)}


def load_table(body: str) -> list[tuple[str, str, bool]]:
    """(role, org, marked) of each row of the load table, in order."""
    return [(role, org, 'data-flagged="1"' in rest)
            for role, org, rest in re.findall(r'<tr data-role="([^"]+)" data-org="([^"]+)"([^>]*)>', body)]


# --- the list and the page -------------------------------------------------------------------------

def test_a_saved_forecast_is_listed_and_its_page_shows_its_figures(app, region):
    older = saved.save_simulation(region, {**RESULT, "created_at": "2026-11-20T09:00:00+08:00", "seed": 3}, "analyst_xu")
    newest = saved.save_simulation(region, RESULT, "analyst_xu")
    briefs = saved.list_simulations(region)
    assert [b["id"] for b in briefs] == [newest, older]
    assert briefs[0] == {"id": newest, "pathway": "school_screening", "pathway_name": "学校心理筛查",
                         "created_at": datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), "created_by": "analyst_xu",
                         "cohort": 200, "from": "2027-03-01", "days": 28, "seed": 7, "org": "510781",
                         "org_name": "江油市", "totals": RESULT["totals"]}
    stored = saved.get_simulation(region, newest)
    assert stored["result"] == RESULT and stored["seconds"] == 12.5
    assert stored["params"] == {"cohort": 200, "from": "2027-03-01", "days": 28, "seed": 7, "org": "510781",
                                "staff": "staff.yaml", "branches": "history"}

    supervisor = signed_in(app, SUPERVISOR)
    listing = supervisor.get("/simulations")
    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    assert re.findall(r'data-simulation="(\d+)"', body) == [str(newest), str(older)]
    row = text_of(listing).split(f"#{newest}", 1)[1]
    assert row.startswith(" 学校心理筛查 school_screening 江油市 2027-03-01 28 200 7 400 91.0% 12 2026-11-23 10:00 analyst_xu")
    assert 'href="/simulations"' in supervisor.get("/tasks").get_data(as_text=True)     # in the navigation

    page = supervisor.get(f"/simulations/{newest}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    totals = dict(re.findall(r'data-total="(\w+)">([^<]*)<', body))
    assert totals == {"people": "200", "instances": "212", "tasks": "400", "completed": "380", "open_at_end": "20",
                      "on_time_rate": "91.0%", "escalations": "12"}
    assert re.search(r'data-testid="cohort">200<', body)
    text = text_of(page)
    assert "学校心理筛查" in text and "江油市" in text and "staff.yaml" in text and "12.5 秒" in text
    # The load table: longest queue first; marked when late (< 80 %) or work is left at the end.
    assert load_table(body) == [("health.mh_center_expert", "510700", True),
                                ("education.teacher", "510781001002", True),
                                ("education.teacher", "510781001001", False)]
    expert = re.search(r'<tr data-role="health.mh_center_expert".*?</tr>', body, re.S).group(0)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", expert)
    assert cells == ["绵阳市", "21", "8", "17", "6.4", "3", "1", "62.0%"]
    assert re.search(r"<td>精神卫生中心专家 <span class=\"tag warn\">需关注</span></td>", expert)
    teacher = re.search(r'<tr data-role="education.teacher" data-org="510781001001".*?</tr>', body, re.S).group(0)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", teacher) == ["班主任", "太平村", "42", "12", "5", "1.2", "0", "2", "95.0%"]


def test_the_charts_on_the_page_are_the_results_figures(app, region):
    sim = saved.save_simulation(region, RESULT, None)
    charts = charts_of(signed_in(app, ANALYST).get(f"/simulations/{sim}").get_data(as_text=True))
    assert set(charts) == {"weekly_by_role", "queue_by_role", "on_time_by_stage", "escalations_by_level"}

    weekly = charts["weekly_by_role"]          # stacked bars: each role's weeks summed over its units
    assert (weekly["type"], weekly["labels"]) == ("bar", WEEKS)
    assert weekly["options"]["scales"]["x"]["stacked"] and weekly["options"]["scales"]["y"]["stacked"]
    assert [(d["label"], d["data"]) for d in weekly["datasets"]] == [
        ("班主任", [14, 17, 16, 13]), ("精神卫生中心专家", [3, 8, 6, 4])]

    queue = charts["queue_by_role"]
    assert (queue["type"], queue["labels"]) == ("line", DATES)
    assert [(d["label"], d["data"]) for d in queue["datasets"]] == [
        (row["role_name"], row["values"]) for row in RESULT["queue_daily"]["by_role"]]

    stages = charts["on_time_by_stage"]
    assert (stages["type"], stages["labels"]) == ("bar", ["筛查", "转介", "治疗"])
    assert stages["datasets"][0]["data"] == [95.0, 63.2, None]

    escalations = charts["escalations_by_level"]    # by level, stacked by agency
    assert escalations["labels"] == ["1 级", "2 级"]
    assert [(d["label"], d["data"]) for d in escalations["datasets"]] == [("卫生健康", [3, 2]), ("教育", [7, 0])]


def test_the_load_table_downloads_as_csv_for_excel(app, region):
    sim = saved.save_simulation(region, RESULT, "analyst_xu")
    response = signed_in(app, SUPERVISOR).get(f"/simulations/{sim}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="carepath-simulation-{sim}-school_screening.csv"')
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode("utf-8"))          # the BOM: Excel reads the Chinese
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["week_start", "role", "role_name", "org", "org_name", "tasks_created", "tasks_completed"]
    assert len(rows) == 1 + len(RESULT["load"]) * len(WEEKS)
    assert rows[1] == ["2027-03-01", "education.teacher", "班主任", "510781001001", "太平村", "10", "9"]
    assert rows[6] == ["2027-03-08", "health.mh_center_expert", "精神卫生中心专家", "510700", "绵阳市", "8", "6"]
    assert sum(int(row[5]) for row in rows[1:]) == sum(row["total"] for row in RESULT["load"])


def test_no_forecast_yet_says_how_to_make_one(app):
    page = signed_in(app, SUPERVISOR).get("/simulations")
    assert page.status_code == 200
    assert "carepath simulate PATHWAY --cohort N --from DATE --days D" in text_of(page)
    assert "data-simulation" not in page.get_data(as_text=True)


# --- who, what is missing, English -----------------------------------------------------------------

def test_frontline_staff_neither_see_nor_delete_forecasts(app, region):
    sim = saved.save_simulation(region, RESULT, None)
    teacher = signed_in(app, TEACHER)
    assert 'href="/simulations"' not in teacher.get("/tasks").get_data(as_text=True)
    for url in ("/simulations", f"/simulations/{sim}", f"/simulations/{sim}.csv"):
        refused = teacher.get(url)
        assert refused.status_code == 403, url
        assert "工作量预测仅对督导和流程分析员开放。" in text_of(refused)
    assert teacher.post(f"/simulations/{sim}/delete").status_code == 403
    assert saved.get_simulation(region, sim)["id"] == sim


def test_a_missing_forecast_is_not_found(app, region):
    supervisor = signed_in(app, SUPERVISOR)
    for url in ("/simulations/999", "/simulations/999.csv"):
        missing = supervisor.get(url)
        assert missing.status_code == 404, url
        assert "预测结果 999 不存在" in text_of(missing) and "no stored forecast 999" in text_of(missing)
    assert supervisor.post("/simulations/999/delete").status_code == 404
    with pytest.raises(NotFound, match="no stored forecast 5"):
        saved.get_simulation(region, 5)


def test_the_page_in_english(app, region):
    sim = saved.save_simulation(region, RESULT, None)
    analyst = signed_in(app, ANALYST)
    analyst.get("/lang/en")
    page = analyst.get(f"/simulations/{sim}")
    text = visible_text(page.get_data(as_text=True))
    for heading in ("Workload forecasts", "Parameters", "Tasks per week by role", "Queue per day by role",
                    "On-time rate by stage", "Escalations by level", "Load by role and org unit", "Longest queue",
                    "From the history of real instances", "12.5 s", "Download the load table (CSV)"):
        assert heading in text, heading
    charts = charts_of(page.get_data(as_text=True))
    assert charts["on_time_by_stage"]["labels"] == ["Screening", "Referral", "Treatment"]
    assert charts["escalations_by_level"]["labels"] == ["Level 1", "Level 2"]
    assert [d["label"] for d in charts["escalations_by_level"]["datasets"]] == ["Health", "Education"]
    # No Chinese left but content: names of the pathway, roles, units and users, and the switch back.
    directory = parse_directory(DEMO_DIRECTORY.read_text(encoding="utf-8"), str(DEMO_DIRECTORY))
    content = {RESULT["pathway_name"], RESULT["org_name"], "中文"}
    content |= {row[key] for row in RESULT["load"] for key in ("role_name", "org_name")}
    content |= {str(user.get("name") or user["username"]) for user in directory["users"]}
    assert chinese_left(text, content) == []
    listing = visible_text(analyst.get("/simulations").get_data(as_text=True))
    assert "Workload forecasts" in listing and chinese_left(listing, content) == []


# --- deleting, and what the service refuses ----------------------------------------------------------

def test_deleting_a_forecast_is_audited(app, region):
    sim = saved.save_simulation(region, RESULT, "analyst_xu")
    supervisor = signed_in(app, SUPERVISOR)
    deleted = supervisor.post(f"/simulations/{sim}/delete", follow_redirects=True)
    assert deleted.status_code == 200
    assert f"预测 {sim} 已删除。" in text_of(deleted) and "data-simulation" not in deleted.get_data(as_text=True)
    assert supervisor.get(f"/simulations/{sim}").status_code == 404
    with region.db.unit_of_work() as session:
        [entry] = audit_repo.entries(session, actions=[saved.DELETED])
        assert (entry.actor, entry.target) == (SUPERVISOR, f"simulation:{sim}")
        assert entry.detail["pathway"] == "school_screening" and entry.detail["seed"] == 7
        assert entry.origin.startswith("web ")


def test_a_result_that_is_not_a_forecast_is_refused(region):
    for bad in ([], {"cohort": 3}, {**RESULT, "pathway": "x" * 201}, {**RESULT, "seconds": float("nan")}):
        with pytest.raises(InvalidInput):
            saved.save_simulation(region, bad, None)
    without_time = copy.deepcopy(RESULT)
    del without_time["created_at"]
    sim = saved.save_simulation(region, without_time, None)
    assert saved.get_simulation(region, sim)["created_at"] == T0          # the engine clock's now


# --- in a real browser -------------------------------------------------------------------------------

@pytest.fixture
def live(region):
    from webui import create_app
    require_bundles()
    sim = saved.save_simulation(region, RESULT, "analyst_xu")
    with LiveServer(create_app(region, now=MovableClock(T0).now)) as server:
        yield server, sim


def test_the_forecast_page_draws_its_charts_in_a_browser(live, new_page):
    server, sim = live
    page = new_page(server.url)
    console_errors: list[str] = []      # the app has no favicon: the browser's request for it is not the page's

    def on_console(message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            console_errors.append(f"{message.text} ({message.location.get('url')})")
    page.on("console", on_console)
    log_in(page, SUPERVISOR)
    page.goto("/simulations")
    page.locator(f"tr[data-simulation='{sim}'] a").first.click()
    page.wait_for_url(f"**/simulations/{sim}")
    for name in ("weekly_by_role", "queue_by_role", "on_time_by_stage", "escalations_by_level"):
        page.wait_for_selector(f"canvas.cp-chart[data-name={name}][data-ready=true]")
    assert page.locator("canvas.cp-chart[data-error]").count() == 0
    assert page.locator("[data-testid=load] tr[data-flagged]").count() == 2
    screenshot(page, "simulation-detail")
    assert console_errors == [] and page.js_errors == []


def test_a_forecast_the_engine_ran_is_shown_whole(app, region):
    from datetime import date

    from engine.simulation.run import Forecast, Plan

    from conftest import deploy_pathways
    deploy_pathways(region, "school_screening")
    result = Forecast(region, Plan("school_screening", 25, date(2026, 11, 2), 10, branches="data", seed=2)).run()
    forecast = saved.save_simulation(region, result, SUPERVISOR)
    body = signed_in(app, SUPERVISOR).get(f"/simulations/{forecast}").get_data(as_text=True)
    assert [(role, org) for role, org, _ in load_table(body)] == \
        [(row["role"], row["org"]) for row in saved.load_rows(result)]
    charts = charts_of(body)
    assert sum(sum(d["data"]) for d in charts["weekly_by_role"]["datasets"]) == result["totals"]["tasks"] > 25
    assert charts["queue_by_role"]["labels"] == result["queue_daily"]["dates"]
