"""Sign-in throttling through the real app (demo directory, real SQLite, the engine clock moved):
five failures for a username within fifteen minutes lock it until the last failure + 15 minutes,
even for the right password, with the time to come back (429); unknown usernames answer exactly
the same; a success ends the run of failures; an address with twenty failures is refused whatever
name it tries. Every attempt is recorded and audited."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.store.audit import AuditEvent, LoginAttempt

from conftest import SHANGHAI
from web import MovableClock, WebClient, text_of

PASSWORD = "carepath-demo"
LOCKED = "登录失败次数过多，请于 {} 后再试"


def nov2(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, second, tzinfo=SHANGHAI)


@pytest.fixture
def site(region):
    from webui import create_app
    clock = MovableClock(nov2(10, 0))
    return create_app(region, now=clock.now), clock, region


def attempt(app, username: str, password: str, address: str = "127.0.0.1"):
    client = WebClient(app)
    client.get("/login", environ_base={"REMOTE_ADDR": address})
    return client.post("/login", {"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def fail(app, clock, username: str, times: list[datetime], address: str = "127.0.0.1") -> list:
    responses = []
    for moment in times:
        clock.set(moment)
        responses.append(attempt(app, username, "wrong-password", address))
    return responses


def audit_actions(ctx, actor: str) -> list[str]:
    with ctx.db.unit_of_work() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.actor == actor)
                                    .order_by(AuditEvent.id)))


def attempts(ctx, username: str) -> list[tuple[bool, str]]:
    with ctx.db.unit_of_work() as session:
        return [(row.ok, row.origin) for row in session.scalars(
            select(LoginAttempt).where(LoginAttempt.username == username).order_by(LoginAttempt.id))]


def test_five_failures_lock_the_username_until_the_last_failure_plus_fifteen_minutes(site):
    app, clock, ctx = site
    first_four = fail(app, clock, "teacher_wang", [nov2(10, minute) for minute in range(4)])
    assert [r.status_code for r in first_four] == [401] * 4
    assert all("用户名或密码错误" in text_of(r) for r in first_four)
    [fifth] = fail(app, clock, "teacher_wang", [nov2(10, 4)])
    assert fifth.status_code == 429 and LOCKED.format("10:19") in text_of(fifth)
    assert fifth.headers["Retry-After"] == str(15 * 60)

    clock.set(nov2(10, 18, 59))                       # the right password, still locked
    refused = attempt(app, "teacher_wang", PASSWORD)
    assert refused.status_code == 429 and LOCKED.format("10:19") in text_of(refused)
    assert refused.headers["Retry-After"] == "1"
    assert refused.get_data(as_text=True).count('class="flash error"') == 1
    assert WebClient(app).get("/tasks").status_code == 302     # nobody signed in

    clock.set(nov2(10, 19))                           # last failure + 15 minutes: open again
    signed_in = attempt(app, "teacher_wang", PASSWORD)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/tasks"

    assert attempts(ctx, "teacher_wang") == [(False, "127.0.0.1")] * 6 + [(True, "127.0.0.1")]
    assert audit_actions(ctx, "teacher_wang") == ["login_failed"] * 5 + ["login_locked", "login"]
    with ctx.db.unit_of_work() as session:
        locked = session.scalar(select(AuditEvent).where(AuditEvent.action == "login_locked"))
        assert locked.origin == "web 127.0.0.1" and locked.detail["until"].startswith("2026-11-02T02:19:00")


def test_guessing_on_while_locked_keeps_the_lock(site):
    app, clock, _ = site
    fail(app, clock, "teacher_wang", [nov2(10, minute) for minute in range(5)])
    clock.set(nov2(10, 10))                           # six failures within 15 minutes: the lock moves
    again = attempt(app, "teacher_wang", PASSWORD)
    assert again.status_code == 429 and LOCKED.format("10:25") in text_of(again)
    clock.set(nov2(10, 24))
    assert attempt(app, "teacher_wang", PASSWORD).status_code == 429
    clock.set(nov2(10, 25))
    assert attempt(app, "teacher_wang", PASSWORD).status_code == 302


def test_the_lock_time_is_rounded_up_to_the_minute_in_the_deployment_time_zone(site):
    app, clock, _ = site
    responses = fail(app, clock, "teacher_wang", [nov2(23, 50, 30 + second) for second in range(5)])
    assert responses[-1].status_code == 429
    assert LOCKED.format("00:06") in text_of(responses[-1])     # 23:50:34 + 15 min → 00:05:34


def test_failures_spread_over_more_than_the_window_do_not_lock(site):
    app, clock, _ = site
    spread = fail(app, clock, "teacher_wang", [nov2(10, m) for m in (0, 5, 10, 15, 16)])
    assert [r.status_code for r in spread] == [401] * 5         # never five within 15 minutes
    assert attempt(app, "teacher_wang", PASSWORD).status_code == 302


def test_a_success_ends_the_run_of_failures(site):
    app, clock, _ = site
    assert [r.status_code for r in fail(app, clock, "teacher_wang", [nov2(10, m) for m in range(4)])] == [401] * 4
    clock.set(nov2(10, 5))
    assert attempt(app, "teacher_wang", PASSWORD).status_code == 302
    after = fail(app, clock, "teacher_wang", [nov2(10, m) for m in range(6, 11)])
    assert [r.status_code for r in after] == [401, 401, 401, 401, 429]


def test_an_unknown_username_is_throttled_exactly_like_a_known_one(site):
    app, clock, ctx = site
    known = fail(app, clock, "teacher_wang", [nov2(10, m) for m in range(5)])
    unknown = fail(app, clock, "no_such_user", [nov2(10, m) for m in range(5)])
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 4 + [429]
    assert [text_of(r) for r in known] == [text_of(r) for r in unknown]
    clock.set(nov2(10, 6))
    assert text_of(attempt(app, "teacher_wang", PASSWORD)) == text_of(attempt(app, "no_such_user", PASSWORD))
    assert audit_actions(ctx, "no_such_user") == ["login_failed"] * 5 + ["login_locked"]


def test_an_address_with_twenty_failures_is_refused_for_every_name(site):
    app, clock, ctx = site
    guesser, colleague = "10.0.0.7", "10.0.0.8"
    names = [f"guess_{n}" for n in range(10)]
    moments = iter(nov2(10, 0) + timedelta(seconds=20 * n) for n in range(20))
    statuses = [response.status_code for name in names                # two each: no name reaches five
                for response in fail(app, clock, name, [next(moments), next(moments)], guesser)]
    assert statuses == [401] * 19 + [429]             # the 20th failure from that address locks it
    clock.set(nov2(10, 8))
    refused = attempt(app, "teacher_wang", PASSWORD, guesser)
    assert refused.status_code == 429 and LOCKED.format("10:23") in text_of(refused)   # this try counts
    assert attempt(app, "teacher_wang", PASSWORD, colleague).status_code == 302
    with ctx.db.unit_of_work() as session:
        origins = {row.origin for row in session.scalars(select(LoginAttempt))}
    assert origins == {guesser, colleague}


def test_nineteen_failures_from_an_address_do_not_lock_it(site):
    app, clock, _ = site
    for n in range(19):
        [response] = fail(app, clock, f"guess_{n}", [nov2(10, 0) + timedelta(seconds=30 * n)], "10.0.0.7")
        assert response.status_code == 401
    assert attempt(app, "teacher_wang", PASSWORD, "10.0.0.7").status_code == 302


def test_the_typed_username_is_clipped_to_100_characters_in_the_records(site):
    app, clock, ctx = site
    typed = "x" * 300
    assert attempt(app, typed, "wrong").status_code == 401
    with ctx.db.unit_of_work() as session:
        [row] = session.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed"))
        [tried] = session.scalars(select(LoginAttempt))
    assert row.actor == tried.username == "x" * 100
