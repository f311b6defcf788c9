"""Notifications reach people: in the app always, by group-robot webhook or email as each user
chose, immediately or in one daily digest; failures are retried with backoff and never lost."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

import engine.store.notify as notify_store
from engine.context import EngineContext
from engine.notify import (
    PreferenceError, deliver_due, deliveries_of, list_for_user, mark_all_read, mark_read, notify,
    parse_preferences, send_digests, set_preferences, unread_count,
)
from engine.settings import Settings

from conftest import SHANGHAI, T0
from notify_servers import SmtpSink, WebhookReceiver, free_port

TITLE = "任务已逾期：复核转介"
BODY = "王小明的复核转介任务已超过期限 2 个工作日，请尽快处理。"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Local receivers are reached directly, whatever proxy the machine has configured."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def robot():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def nctx(ctx, smtp):
    """The engine with the notification tables and an SMTP relay at the local sink."""
    assert notify_store.Notification.__table__.name == "notifications"
    ctx.db.create_schema()
    settings = Settings(database_url=ctx.settings.database_url, smtp_host="127.0.0.1", smtp_port=smtp.port,
                        smtp_from="carepath@mh.example.cn")
    return EngineContext(settings, now=T0, db=ctx.db)


def _prefs(nctx, username: str, *prefs: tuple[str, str, str | None]) -> None:
    with nctx.db.unit_of_work() as session:
        set_preferences(session, username, [{"channel": c, "mode": m, "address": a} for c, m, a in prefs])


def _notify(nctx, now, users, title=TITLE, body=BODY, **kwargs) -> list[int]:
    with nctx.db.unit_of_work() as session:
        return notify(session, now, users, kwargs.pop("kind", "escalation"), title, body, **kwargs)


def _deliveries(nctx, notification_id: int) -> list[dict]:
    with nctx.db.unit_of_work() as session:
        return deliveries_of(session, notification_id)


def test_in_app_notifications_count_list_and_mark_read(nctx):
    first = _notify(nctx, T0, ["sun_sup", "expert"], link={"task": 12})
    second = _notify(nctx, T0 + timedelta(hours=1), ["sun_sup"], kind="reminder", title="明天到期：随访",
                     body="随访任务明天 18:00 到期。")
    with nctx.db.unit_of_work() as session:
        assert unread_count(session, "sun_sup") == 2 and unread_count(session, "expert") == 1
        listed = list_for_user(session, "sun_sup", limit=10, offset=0)
        assert [n["title"] for n in listed] == ["明天到期：随访", TITLE]          # newest first
        assert listed[1]["link"] == {"task": 12} and listed[1]["created_at"] == T0
        assert [n["id"] for n in list_for_user(session, "sun_sup", limit=1, offset=1)] == [first[0]]
        # Someone else's notification cannot be marked read by this user.
        assert mark_read(session, "sun_sup", [first[1]], T0 + timedelta(hours=2)) == 0
        assert mark_read(session, "sun_sup", [first[0]], T0 + timedelta(hours=2)) == 1
    with nctx.db.unit_of_work() as session:
        assert unread_count(session, "sun_sup") == 1 and unread_count(session, "expert") == 1
        assert [n["id"] for n in list_for_user(session, "sun_sup", 10, 0, unread_only=True)] == second
        read = list_for_user(session, "sun_sup", 10, 0)[1]
        assert read["read_at"] == T0 + timedelta(hours=2) and not read["unread"]
        assert mark_all_read(session, "sun_sup", T0 + timedelta(hours=3)) == 1
        assert unread_count(session, "sun_sup") == 0


def test_immediate_webhook_posts_group_robot_markdown(nctx, robot):
    _prefs(nctx, "sun_sup", ("webhook", "immediate", robot.url()))
    [nid] = _notify(nctx, T0, ["sun_sup"], link={"task": 12})
    assert [d["status"] for d in _deliveries(nctx, nid)] == ["pending"]

    assert deliver_due(nctx, T0)["sent"] == 1
    [request] = robot.requests
    assert request["path"] == "/cgi-bin/webhook/send?key=test"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["json"] == {"msgtype": "markdown", "markdown": {"content": (
        f"**【CarePath·升级】{TITLE}**\n{BODY}\n> 时间：2026-11-02 09:00\n> 关联：任务 #12")}}
    [delivery] = _deliveries(nctx, nid)
    assert delivery["status"] == "sent" and delivery["sent_at"] == T0 and delivery["attempts"] == 1
    # Nothing is sent twice.
    assert deliver_due(nctx, T0 + timedelta(hours=1))["sent"] == 0 and len(robot.requests) == 1


def test_immediate_email_has_chinese_subject_and_body(nctx, smtp):
    _prefs(nctx, "expert", ("email", "immediate", "chen@mh.example.cn"))
    [nid] = _notify(nctx, T0, ["expert"], link={"escalation": 3})
    assert deliver_due(nctx, T0) == {"sent": 1, "retry": 0, "failed": 0, "deferred": 0, "skipped_email": 0}
    [message] = smtp.messages
    assert message["Subject"] == f"【CarePath·升级】{TITLE}"
    assert message["From"] == "carepath@mh.example.cn" and message["To"] == "chen@mh.example.cn"
    assert smtp.envelopes == [{"from": "carepath@mh.example.cn", "to": ["chen@mh.example.cn"]}]
    assert message.get_content_charset() == "utf-8"
    content = message.get_content()
    assert BODY in content and "关联：升级 #3" in content and "时间：2026-11-02 09:00（Asia/Shanghai）" in content
    assert message["Message-ID"] == f"<carepath-delivery-{_deliveries(nctx, nid)[0]['id']}@mh.example.cn>"


def test_webhook_error_is_retried_after_backoff(nctx):
    with WebhookReceiver(fail_first=1) as robot:
        _prefs(nctx, "sun_sup", ("webhook", "immediate", robot.url()))
        [nid] = _notify(nctx, T0, ["sun_sup"])
        assert deliver_due(nctx, T0)["retry"] == 1
        [delivery] = _deliveries(nctx, nid)
        assert delivery["status"] == "pending" and delivery["attempts"] == 1
        assert delivery["last_error"].startswith("HTTP 500")
        assert delivery["next_attempt_at"] == T0 + timedelta(minutes=1)

        assert deliver_due(nctx, T0 + timedelta(seconds=59))["sent"] == 0 and len(robot.requests) == 1
        assert deliver_due(nctx, T0 + timedelta(minutes=1))["sent"] == 1
        assert len(robot.requests) == 2 and robot.contents()[0] == robot.contents()[1]
        [delivery] = _deliveries(nctx, nid)
        assert delivery["status"] == "sent" and delivery["attempts"] == 2 and delivery["last_error"] is None


def test_permanent_failure_after_six_attempts_keeps_last_error(nctx):
    with WebhookReceiver(fail_first=100, fail_status=503) as robot:
        _prefs(nctx, "sun_sup", ("webhook", "immediate", robot.url()))
        [nid] = _notify(nctx, T0, ["sun_sup"])
        now = T0
        for attempt, wait in enumerate([timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                                        timedelta(hours=2), timedelta(hours=12)], start=1):
            assert deliver_due(nctx, now)["retry"] == 1
            assert deliver_due(nctx, now + wait - timedelta(seconds=1)) == \
                {"sent": 0, "retry": 0, "failed": 0, "deferred": 0, "skipped_email": 0}
            assert len(robot.requests) == attempt
            now += wait
        assert deliver_due(nctx, now)["failed"] == 1
        [delivery] = _deliveries(nctx, nid)
        assert delivery["status"] == "failed" and delivery["attempts"] == 6
        assert delivery["last_error"].startswith("HTTP 503")
        deliver_due(nctx, now + timedelta(days=3))
        assert len(robot.requests) == 6


def test_one_unreachable_destination_does_not_stop_the_others(nctx, robot, smtp):
    dead = f"http://127.0.0.1:{free_port()}/robot"
    _prefs(nctx, "sun_sup", ("webhook", "immediate", dead))
    _prefs(nctx, "expert", ("webhook", "immediate", robot.url()), ("email", "immediate", "chen@mh.example.cn"))
    [first] = _notify(nctx, T0, ["sun_sup"], title="第一条")
    _notify(nctx, T0, ["sun_sup", "expert"], title="第二条")
    report = deliver_due(nctx, T0)
    # The dead robot is tried once; its second message waits for the next sweep.
    assert report == {"sent": 2, "retry": 1, "failed": 0, "deferred": 1, "skipped_email": 0}
    assert len(robot.requests) == 1 and len(smtp.messages) == 1
    [failed] = _deliveries(nctx, first)
    assert failed["status"] == "pending" and "无法连接" in failed["last_error"]


def test_dedupe_key_makes_a_repeated_notify_a_no_op(nctx, robot):
    _prefs(nctx, "sun_sup", ("webhook", "immediate", robot.url()))
    first = _notify(nctx, T0, ["sun_sup"], dedupe_key="escalation:3:level1")
    again = _notify(nctx, T0, ["sun_sup", "expert"], dedupe_key="escalation:3:level1")
    assert len(first) == 1 and len(again) == 1          # only expert is new
    assert _notify(nctx, T0 + timedelta(minutes=5), ["expert", "sun_sup"], dedupe_key="escalation:3:level1") == []
    with nctx.db.unit_of_work() as session:
        assert unread_count(session, "sun_sup") == 1 and unread_count(session, "expert") == 1
    deliver_due(nctx, T0 + timedelta(minutes=5))
    assert len(robot.requests) == 1
    # Without a key, every call is a new notification.
    assert len(_notify(nctx, T0, ["sun_sup"]) + _notify(nctx, T0, ["sun_sup"])) == 2


def test_dedupe_holds_when_two_sweeps_notify_at_once(nctx):
    """Two sweeps running the same escalation at the same moment, each in its own transaction:
    neither fails, and the user gets one notification."""
    start = threading.Barrier(2)
    results: list[list[int]] = []

    def sweep() -> None:
        start.wait()
        results.append(_notify(nctx, T0, ["sun_sup", "expert"], dedupe_key="escalation:9:level2"))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(len(r) for r in results) == [0, 2]
    with nctx.db.unit_of_work() as session:
        assert unread_count(session, "sun_sup") == 1 and unread_count(session, "expert") == 1


def test_email_digest_once_a_day_at_digest_time(nctx, smtp):
    _prefs(nctx, "sun_sup", ("email", "digest", "sun@mh.example.cn"))
    ids = [_notify(nctx, T0 + timedelta(hours=h), ["sun_sup"], kind="reminder", title=f"随访提醒 {h + 1}",
                   body=f"第 {h + 1} 项随访即将到期。")[0] for h in range(3)]
    assert deliver_due(nctx, T0 + timedelta(hours=3))["sent"] == 0       # digest items are not immediate
    assert [d["status"] for d in _deliveries(nctx, ids[0])] == ["digest"]

    tuesday = datetime(2026, 11, 3, tzinfo=SHANGHAI)
    assert send_digests(nctx, tuesday.replace(hour=8, minute=29)) == 0 and smtp.messages == []
    at_digest_time = tuesday.replace(hour=8, minute=30).astimezone(timezone.utc)   # 00:30 UTC
    assert send_digests(nctx, at_digest_time) == 1
    assert send_digests(nctx, at_digest_time) == 0
    [message] = smtp.messages
    assert message["Subject"] == "【CarePath】每日通知摘要 2026-11-03（3 条）"
    assert message["To"] == "sun@mh.example.cn"
    content = message.get_content()
    assert content.startswith("2026-11-03 通知摘要，共 3 条：")
    assert [content.index(f"随访提醒 {n}") for n in (1, 2, 3)] == sorted(content.index(f"随访提醒 {n}") for n in (1, 2, 3))
    assert "第 3 项随访即将到期。" in content and "时间：2026-11-02 11:00" in content
    assert all(d["status"] == "sent" for nid in ids for d in _deliveries(nctx, nid))

    # An item queued after today's digest waits for tomorrow's.
    [late] = _notify(nctx, tuesday.replace(hour=12), ["sun_sup"], kind="reminder", title="新的提醒", body="内容")
    assert send_digests(nctx, tuesday.replace(hour=20)) == 0 and len(smtp.messages) == 1
    wednesday = datetime(2026, 11, 4, 8, 30, tzinfo=SHANGHAI)
    assert send_digests(nctx, wednesday) == 1 and send_digests(nctx, wednesday + timedelta(hours=1)) == 0
    assert smtp.messages[1]["Subject"] == "【CarePath】每日通知摘要 2026-11-04（1 条）"
    assert "新的提醒" in smtp.messages[1].get_content() and "随访提醒" not in smtp.messages[1].get_content()
    assert _deliveries(nctx, late)[0]["status"] == "sent"


def test_webhook_digest_is_one_post_listing_the_items(nctx, robot):
    _prefs(nctx, "doctor_a", ("webhook", "digest", robot.url()))
    for n in range(3):
        _notify(nctx, T0, ["doctor_a"], kind="reminder", title=f"待办 {n}", body=f"说明 {n}")
    assert send_digests(nctx, datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)) == 1
    [content] = robot.contents()
    assert content.startswith("**【CarePath】每日通知摘要（2026-11-03，共 3 条）**\n1. 【提醒】待办 0（2026-11-02 09:00）")
    assert "3. 【提醒】待办 2" in content


def test_digest_send_failure_is_retried_the_same_day(nctx):
    with WebhookReceiver(fail_first=1) as robot:
        _prefs(nctx, "doctor_a", ("webhook", "digest", robot.url()))
        _notify(nctx, T0, ["doctor_a"], kind="reminder", title="待办", body="说明")
        digest_at = datetime(2026, 11, 3, 8, 30, tzinfo=SHANGHAI)
        assert send_digests(nctx, digest_at) == 0
        assert send_digests(nctx, digest_at + timedelta(seconds=30)) == 0 and len(robot.requests) == 1
        assert send_digests(nctx, digest_at + timedelta(minutes=1)) == 1
        assert send_digests(nctx, digest_at + timedelta(hours=5)) == 0 and len(robot.requests) == 2


def test_email_waits_untouched_while_no_smtp_host_is_configured(nctx, smtp):
    without_smtp = EngineContext(Settings(database_url=nctx.settings.database_url), now=T0, db=nctx.db)
    _prefs(nctx, "expert", ("email", "immediate", "chen@mh.example.cn"))
    [nid] = _notify(nctx, T0, ["expert"])
    assert deliver_due(without_smtp, T0)["skipped_email"] == 1
    [delivery] = _deliveries(nctx, nid)
    assert delivery["status"] == "pending" and delivery["attempts"] == 0
    assert deliver_due(nctx, T0 + timedelta(hours=1))["sent"] == 1 and len(smtp.messages) == 1


def test_a_crash_after_claiming_resends_later_never_loses(nctx, robot):
    """At least once: a sweep that claimed a delivery and died leaves it pending; another sweep
    at the same moment leaves it alone, and it is sent once the claim lease has run out."""
    _prefs(nctx, "sun_sup", ("webhook", "immediate", robot.url()))
    [nid] = _notify(nctx, T0, ["sun_sup"])
    [delivery] = _deliveries(nctx, nid)
    with nctx.db.unit_of_work() as session:            # the claim of a sweep that then crashed
        assert notify_store.claim_delivery(session, delivery["id"], T0, T0 + timedelta(minutes=10))
    assert deliver_due(nctx, T0)["sent"] == 0 and robot.requests == []
    assert deliver_due(nctx, T0 + timedelta(minutes=10))["sent"] == 1 and len(robot.requests) == 1


def test_preferences_are_validated(nctx):
    bad = [
        ([{"channel": "email", "mode": "immediate", "address": None}], "必须填写地址"),
        ([{"channel": "email", "mode": "digest", "address": "not-an-address"}], "邮箱地址格式不正确"),
        ([{"channel": "email", "mode": "digest", "address": "a@b.cn\nBcc: x@y.cn"}], "邮箱地址格式不正确"),
        ([{"channel": "webhook", "mode": "immediate", "address": "ftp://127.0.0.1/robot"}], "http://"),
        ([{"channel": "webhook", "mode": "immediate", "address": "http:///robot"}], "http://"),
        ([{"channel": "sms", "mode": "immediate", "address": "13800000000"}], "未知的通知渠道"),
        ([{"channel": "email", "mode": "weekly", "address": "a@b.cn"}], "通知方式"),
        ([{"channel": "email", "mode": "digest", "address": "a@b.cn"},
          {"channel": "email", "mode": "off", "address": None}], "只能设置一次"),
    ]
    for prefs, message in bad:
        with pytest.raises(PreferenceError, match=message), nctx.db.unit_of_work() as session:
            set_preferences(session, "sun_sup", prefs)
    with nctx.db.unit_of_work() as session:
        stored = set_preferences(session, "sun_sup", [
            {"channel": "email", "mode": "digest", "address": " sun@mh.example.cn "},
            {"channel": "webhook", "mode": "immediate", "address": "https://qyapi.example.cn/send?key=k"}])
        assert stored[0]["address"] == "sun@mh.example.cn"
    with nctx.db.unit_of_work() as session:           # replacing, not merging
        set_preferences(session, "sun_sup", [{"channel": "webhook", "mode": "off", "address": None}])
        assert notify_store.prefs_of_user(session, "sun_sup")[0].mode == "off"
        assert len(notify_store.prefs_of_user(session, "sun_sup")) == 1


def test_parse_preferences_from_a_directory_entry():
    assert parse_preferences({"username": "u"}) == []
    assert parse_preferences({"email": "a@b.cn", "webhook": "http://127.0.0.1:9/robot"}) == [
        {"channel": "webhook", "mode": "immediate", "address": "http://127.0.0.1:9/robot"},
        {"channel": "email", "mode": "digest", "address": "a@b.cn"}]
    assert parse_preferences({"email": "a@b.cn", "notify": {"email": "immediate", "webhook": False}}) == [
        {"channel": "webhook", "mode": "off", "address": None},
        {"channel": "email", "mode": "immediate", "address": "a@b.cn"}]
    with pytest.raises(PreferenceError, match="webhook 的通知方式为 immediate 时必须填写地址"):
        parse_preferences({"notify": {"webhook": "immediate"}})
    with pytest.raises(PreferenceError, match="未知的通知渠道：sms"):
        parse_preferences({"email": "a@b.cn", "notify": {"sms": "immediate"}})
    with pytest.raises(PreferenceError, match="notify 必须是映射"):
        parse_preferences({"notify": "digest"})


def test_off_sends_nothing_but_the_in_app_notification_stays(nctx, robot, smtp):
    _prefs(nctx, "sun_sup", ("webhook", "off", robot.url()), ("email", "off", "sun@mh.example.cn"))
    [nid] = _notify(nctx, T0, ["sun_sup"])
    assert _deliveries(nctx, nid) == []
    deliver_due(nctx, T0 + timedelta(hours=1))
    send_digests(nctx, datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI))
    assert robot.requests == [] and smtp.messages == []
    with nctx.db.unit_of_work() as session:
        assert unread_count(session, "sun_sup") == 1


def test_times_must_be_aware(nctx):
    from engine.errors import InvalidInput
    with pytest.raises(InvalidInput), nctx.db.unit_of_work() as session:
        notify(session, datetime(2026, 11, 2, 9, 0), ["sun_sup"], "escalation", TITLE, BODY)
    with pytest.raises(InvalidInput):
        deliver_due(nctx, datetime(2026, 11, 2, 9, 0))
