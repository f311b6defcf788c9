"""Idempotency keys: a POST retried with the same key gets the first answer again instead of
starting or completing twice; the same key with another request is refused, and so is one whose
first request is still running; keys live 24 hours on the engine clock; of two requests
reserving one key at the same moment exactly one goes ahead; a released key can be used again."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import idempotency
from engine.errors import Conflict, InvalidInput
from engine.idempotency import KEY_TTL, Replay, Reserved, complete, purge_expired, release, reserve
from engine.runtime import services
from engine.store.api import IdempotencyKey
from engine.store.models import Instance

from conftest import T0

OWNER = "client:his-jiangyou"
START = ("POST", "/api/v1/instances")
BODY = json.dumps({"process": "school_screening", "org": "510781001001", "data": {"a": 1, "b": [1, 2]}}).encode()


def key_rows(ctx) -> int:
    with ctx.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(IdempotencyKey))


def test_a_retry_gets_the_stored_answer(ctx):
    first = reserve(ctx, OWNER, "start-001", *START, BODY)
    assert isinstance(first, Reserved)
    complete(ctx, first, 201, {"instance": 7, "tasks": [{"id": 3, "element": "screening"}]})

    again = reserve(ctx.at(T0 + timedelta(hours=1)), OWNER, "start-001", *START, BODY)
    assert again == Replay(201, {"instance": 7, "tasks": [{"id": 3, "element": "screening"}]})
    # The same JSON document written otherwise is the same request.
    reordered = b'{ "org": "510781001001",\n "data": {"b": [1, 2], "a": 1}, "process": "school_screening" }'
    assert reserve(ctx, OWNER, "start-001", "post", START[1], reordered) == again
    # Keys belong to their owner: another caller's same key is a new request.
    assert isinstance(reserve(ctx, "user:teacher_a", "start-001", *START, BODY), Reserved)
    assert key_rows(ctx) == 2


def test_an_empty_answer_and_a_list_are_replayed_as_they_were(ctx):
    done = reserve(ctx, OWNER, "complete-9", "POST", "/api/v1/tasks/9/complete", b"")
    complete(ctx, done, 204, None)
    assert reserve(ctx, OWNER, "complete-9", "POST", "/api/v1/tasks/9/complete", None) == Replay(204, None)
    listed = reserve(ctx, OWNER, "bulk", "POST", "/api/v1/messages", b"[1]")
    complete(ctx, listed, 422, [{"field": "phq9", "message": "必填"}])
    assert reserve(ctx, OWNER, "bulk", "POST", "/api/v1/messages", b"[1]") == \
        Replay(422, [{"field": "phq9", "message": "必填"}])


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/instances", BODY.replace(b'"a": 1', b'"a": 2')),
    ("POST", "/api/v1/instances", b""),
    ("POST", "/api/v1/tasks/3/complete", BODY),
    ("PUT", "/api/v1/instances", BODY),
])
def test_the_same_key_with_another_request_is_refused(ctx, method, path, body):
    complete(ctx, reserve(ctx, OWNER, "start-001", *START, BODY), 201, {"instance": 7})
    with pytest.raises(InvalidInput, match="已用于另一个请求") as raised:
        reserve(ctx, OWNER, "start-001", method, path, body)
    assert "start-001" in raised.value.message and "/api/v1/instances" in raised.value.message
    # …also while the first is still running
    reserve(ctx, OWNER, "start-002", *START, BODY)
    with pytest.raises(InvalidInput, match="已用于另一个请求"):
        reserve(ctx, OWNER, "start-002", method, path, body)


def test_a_key_whose_request_is_still_running_is_a_conflict(ctx):
    reserve(ctx, OWNER, "start-001", *START, BODY)
    with pytest.raises(Conflict, match="仍在处理中"):
        reserve(ctx, OWNER, "start-001", *START, BODY)
    with pytest.raises(Conflict):
        reserve(ctx.at(T0 + KEY_TTL - timedelta(seconds=1)), OWNER, "start-001", *START, BODY)
    assert key_rows(ctx) == 1


def test_keys_live_twenty_four_hours_on_the_engine_clock(ctx):
    complete(ctx, reserve(ctx, OWNER, "start-001", *START, BODY), 201, {"instance": 7})
    running = reserve(ctx, OWNER, "start-002", *START, BODY)
    assert isinstance(running, Reserved)
    just_before = ctx.at(T0 + KEY_TTL - timedelta(seconds=1))
    assert reserve(just_before, OWNER, "start-001", *START, BODY) == Replay(201, {"instance": 7})
    assert purge_expired(just_before) == 0

    later = ctx.at(T0 + KEY_TTL)
    # Forgotten: the key goes to the new request, even one that differs, even over a stuck one.
    replaced = reserve(later, OWNER, "start-001", "POST", "/api/v1/instances", b"{}")
    assert isinstance(replaced, Reserved)
    assert isinstance(reserve(later, OWNER, "start-002", *START, BODY), Reserved)
    with pytest.raises(Conflict):
        reserve(later, OWNER, "start-001", "POST", "/api/v1/instances", b"{}")
    complete(later, running, 201, {"instance": 8})        # the stuck one's row is gone: nothing stored
    release(later, running)
    with pytest.raises(Conflict):                         # its successor is untouched, still running
        reserve(later, OWNER, "start-002", *START, BODY)

    reserve(ctx, OWNER, "old", *START, BODY)              # made at T0
    assert purge_expired(ctx.at(T0 + KEY_TTL + timedelta(minutes=1))) == 1
    assert key_rows(ctx) == 2
    assert purge_expired(ctx.at(T0 + 2 * KEY_TTL)) == 2 and key_rows(ctx) == 0


def test_the_embedded_sweep_purges_expired_keys_too(ctx):
    from engine.runtime.scheduler import sweep_once
    reserve(ctx, OWNER, "start-001", *START, BODY)
    assert sweep_once(ctx.at(T0 + KEY_TTL - timedelta(minutes=1)))["idempotency_keys_purged"] == 0
    assert sweep_once(ctx.at(T0 + KEY_TTL + timedelta(minutes=1)))["idempotency_keys_purged"] == 1
    assert key_rows(ctx) == 0


def test_release_and_server_errors_let_a_retry_run_again(ctx):
    first = reserve(ctx, OWNER, "start-001", *START, BODY)
    release(ctx, first)
    second = reserve(ctx, OWNER, "start-001", *START, BODY)
    assert isinstance(second, Reserved) and second != first             # ids are never reused
    complete(ctx, first, 201, {"instance": 6})                          # a stale reservation: no effect
    with pytest.raises(Conflict):
        reserve(ctx, OWNER, "start-001", *START, BODY)
    complete(ctx, second, 503, {"error": "数据库不可用"})                 # not stored
    third = reserve(ctx, OWNER, "start-001", *START, BODY)
    assert isinstance(third, Reserved)
    complete(ctx, third, 201, {"instance": 7})
    release(ctx, third)                                                 # finished: release changes nothing
    assert reserve(ctx, OWNER, "start-001", *START, BODY) == Replay(201, {"instance": 7})


@pytest.mark.parametrize("key", ["", "x" * 201, "键", "a\nb", "tab\there", "\x7f", " leading", "trailing ", " "])
def test_a_key_is_one_to_two_hundred_printable_ascii_characters(ctx, key):
    with pytest.raises(InvalidInput, match="1–200 个可打印 ASCII 字符"):
        reserve(ctx, OWNER, key, *START, BODY)
    assert key_rows(ctx) == 0


def test_the_longest_and_odd_but_printable_keys_are_fine(ctx):
    for key in ("x" * 200, "~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", "2026-11-02 order 7"):
        assert isinstance(reserve(ctx, OWNER, key, *START, BODY), Reserved)
    assert key_rows(ctx) == 3


def test_two_requests_reserving_one_key_at_once_one_goes_ahead(ctx):
    """Each round, two threads reserve the same fresh key at the same moment: one Reserved, the
    other refused as in progress (it found the first's committed row, or lost the insert)."""
    for round_ in range(12):
        key = f"race-{round_}"
        barrier = threading.Barrier(2)
        results: list = []

        def attempt():
            barrier.wait()
            try:
                results.append(reserve(ctx, OWNER, key, *START, BODY))
            except Conflict as err:
                results.append(err)

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 2, results
        assert sorted(type(r).__name__ for r in results) == ["Conflict", "Reserved"], results
    assert key_rows(ctx) == 12


def test_a_start_retried_with_its_key_starts_one_instance(region):
    """What the API will do with a real pathway: reserve, start, store the answer; the retry is
    answered from the store and no second instance starts."""
    from conftest import deploy_pathways
    deploy_pathways(region, "school_screening")

    def post_start(body: bytes):
        held = reserve(region, OWNER, "hjy-2026-0001", *START, body)
        if isinstance(held, Replay):
            return held.status_code, held.response
        data = json.loads(body)
        outcome = services.start_instance(region, data["process"], data["org"], actor="api:his-jiangyou")
        answer = {"instance": outcome.instance, "status": outcome.status}
        complete(region, held, 201, answer)
        return 201, answer

    first = post_start(BODY)
    assert post_start(BODY) == first
    with region.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 1
    assert idempotency.request_hash("POST", START[1], BODY) != idempotency.request_hash("POST", START[1] + "x", BODY)
