"""The supervisors' audit screen through the real app: only supervisors reach it; a county
supervisor reads their county and never the other's; break-glass openings of the last 30 days
stand out at the top; filters, the "更早" cursor, CSV and JSON exports with the same scope; and
reading or exporting leaves its own row."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import pytest

from engine import audit as audit_log
from engine.store import audit as audit_repo

from conftest import SHANGHAI
from test_audit_log import two_counties
from web import MovableClock, WebClient, text_of


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def app(region):
    """Two counties' audit rows (see test_audit_log.two_counties); the app's clock at Thu 12 Nov 09:00."""
    from webui import create_app
    two_counties(region)
    return create_app(region, now=MovableClock(nov(12, 9)).now)


def signed_in(app, username: str) -> WebClient:
    client = WebClient(app)
    client.login(username)
    return client


def audit_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-audit="(\d+)"', response.get_data(as_text=True))]


def panel(response) -> str:
    html = response.get_data(as_text=True)
    section = html.split('data-testid="break-glass"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)).strip()


def test_only_supervisors_reach_the_audit_screen(app):
    teacher = signed_in(app, "teacher_wang")
    for url in ("/audit", "/audit/export.csv", "/audit/export.json"):
        refused = teacher.get(url)
        assert refused.status_code == 403, url
        assert "张一" not in refused.get_data(as_text=True)
    assert 'href="/audit"' not in teacher.get("/tasks").get_data(as_text=True)
    supervisor = signed_in(app, "health_sup_jy")
    assert 'href="/audit"' in supervisor.get("/tasks").get_data(as_text=True)
    assert supervisor.get("/audit/export.xlsx").status_code == 404


def test_a_county_supervisor_reads_their_county_only(app, region):
    jiangyou = signed_in(app, "health_sup_jy").get("/audit")
    fucheng = signed_in(app, "health_sup_fc").get("/audit")
    assert jiangyou.status_code == fucheng.status_code == 200
    assert "张一" in text_of(jiangyou) and "李二" not in text_of(jiangyou)
    assert "李二" in text_of(fucheng) and "张一" not in text_of(fucheng)
    assert "王老师" in text_of(jiangyou) and "宋老师" not in text_of(jiangyou)     # sign-ins go by the actor's unit
    assert "宋老师" in text_of(fucheng) and "王老师" not in text_of(fucheng)
    expected = [e["id"] for e in audit_log.audit_entries(region, scope_username="health_sup_jy", newest_first=True,
                                                        before_id=max(audit_ids(jiangyou)) + 1)]
    assert audit_ids(jiangyou) == expected                                          # newest first, the whole scope
    # the other county's person, filtered for, looks exactly like someone who does not exist
    client = signed_in(app, "health_sup_jy")
    other = client.get("/audit?person=F-1")
    missing = client.get("/audit?person=X-404")
    assert other.status_code == missing.status_code == 200
    assert audit_ids(other) == audit_ids(missing) == [] and text_of(other) == text_of(missing)
    assert "没有符合条件的审计记录" in text_of(other)


def test_break_glass_openings_stand_out_at_the_top(app):
    fucheng = signed_in(app, "health_sup_fc").get("/audit")
    shown = panel(fucheng)
    assert shown.count("郑华") == 2 and shown.count("李二") == 2
    assert "复诊前再次核对用药记录" in shown and "夜间急诊转入，需要查看既往病史" in shown
    assert shown.index("复诊前再次核对用药记录") < shown.index("夜间急诊转入")         # newest first
    assert "仍在有效期内" in shown and "已结束" in shown                          # 08:30 + 60 min is still open at 09:00
    assert "2026-11-12 08:30" in shown and "2026-11-12 09:30" in shown
    html = fucheng.get_data(as_text=True)
    assert html.index('data-testid="break-glass"') < html.index('class="list audit"')
    assert re.search(r'data-action="break_glass"\s+class="break-glass"', html)
    # the 1 October opening on 张一 is older than 30 days; the F-1 ones are not 江油's
    jiangyou = panel(signed_in(app, "health_sup_jy").get("/audit"))
    assert "郑华" not in jiangyou and "近 30 天辖区内没有紧急查看" in jiangyou
    city = panel(signed_in(app, "health_sup_city").get("/audit"))
    assert city.count("郑华") == 2 and "十月" not in city


def test_filters_and_the_earlier_cursor(app, region):
    with region.db.unit_of_work() as session:
        for minute in range(60):
            audit_repo.append(session, nov(6, 8, minute), "teacher_wang", "login")
    client = signed_in(app, "health_sup_jy")
    expected = [e["id"] for e in audit_log.audit_entries(region, scope_username="health_sup_jy", newest_first=True)]
    first = client.get("/audit")
    assert audit_ids(first) == expected[:50]
    earlier = re.search(r'href="([^"]*before=\d+[^"]*)"[^>]*data-testid="earlier"', first.get_data(as_text=True))
    second = client.get(earlier.group(1).replace("&amp;", "&"))
    assert audit_ids(second) == expected[50:100]
    assert 'data-testid="earlier"' not in second.get_data(as_text=True)           # nothing earlier
    assert "最新" in text_of(second)

    logins = client.get("/audit?action=login&user=teacher_wang&since=2026-11-06&until=2026-11-06")
    assert len(audit_ids(logins)) == 50 and 'data-testid="earlier"' in logins.get_data(as_text=True)
    assert set(re.findall(r'data-action="(\w+)"', logins.get_data(as_text=True))) == {"login"}
    kept = re.search(r'href="([^"]*)"[^>]*data-testid="earlier"', logins.get_data(as_text=True)).group(1)
    assert "action=login" in kept and "user=teacher_wang" in kept and "since=2026-11-06" in kept
    reads = client.get("/audit?action=read")
    assert [a for a in re.findall(r'data-action="(\w+)"', reads.get_data(as_text=True))] == ["read"]
    assert "精神卫生中心专家" not in text_of(reads) and "陈明" in text_of(reads)
    assert client.get("/audit?since=yesterday").status_code == 400
    assert client.get("/audit?before=x").status_code == 400


def test_reading_and_exporting_are_audited_and_scoped(app, region):
    client = signed_in(app, "health_sup_jy")
    client.get("/audit?person=S-1")
    [viewed] = audit_log.audit_entries(region, actions=["audit_viewed"])
    assert (viewed["actor"], viewed["origin"], viewed["person_id"]) == ("health_sup_jy", "web 127.0.0.1", None)
    assert viewed["detail"]["filters"] == {"person": "S-1"} and viewed["detail"]["count"] > 0

    exported = client.get("/audit/export.csv?person=S-1")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    assert exported.data[:3] == b"\xef\xbb\xbf"
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0] == ["id", "时间", "操作人", "操作", "服务对象", "对象", "来源", "详情"]
    assert len(rows) > 1 and {r[4] for r in rows[1:]} == {"张一（S-1）"}
    [logged] = audit_log.audit_entries(region, actions=["audit_exported"])
    assert logged["actor"] == "health_sup_jy"
    assert logged["detail"] == {"filters": {"person": "S-1"}, "count": len(rows) - 1, "format": "csv"}

    everything = signed_in(app, "health_sup_fc").get("/audit/export.json")
    assert everything.status_code == 200 and everything.mimetype == "application/json"
    entries = json.loads(everything.data)
    assert {e["person_name"] for e in entries} == {"李二", None}
    assert "teacher_wang" not in {e["actor"] for e in entries}
    assert signed_in(app, "health_sup_jy").get("/audit/export.json?person=F-1").get_json() == []


def test_the_screen_in_english(app):
    client = signed_in(app, "health_sup_jy")
    client.get("/lang/en")
    page = client.get("/audit")
    text = text_of(page)
    assert page.status_code == 200 and "Audit log" in text and "Break-glass" in text and "Task completed" in text
    assert "完成任务" not in text
