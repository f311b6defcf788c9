"""An event-based gateway waits for a correlated message or a timer, whichever comes first."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.pathways import deploy_files
from engine.runtime import services

from conftest import BPMN, T0

COUNTY = "510781"


@pytest.fixture
def gateway(ctx):
    deploy_files(ctx, [BPMN / "event_gateway.bpmn"])
    return ctx


def _elements(ctx, instance_id):
    return [t["element"] for t in services.list_tasks(ctx, instance_id=instance_id)]


def test_the_message_wins_and_lands_only_in_its_own_instance(gateway):
    first = services.start_instance(gateway, "waiter", COUNTY, {"ref": "P-1"})
    second = services.start_instance(gateway, "waiter", COUNTY, {"ref": "P-2"})
    services.start_instance(gateway, "sender", COUNTY, {"ref": "P-2"})
    services.tick(gateway)
    assert _elements(gateway, second.instance) == ["done"]
    assert _elements(gateway, first.instance) == []

    later = gateway.at(T0 + timedelta(days=21))
    services.tick(later)     # the timer branch of the answered gateway is gone
    assert _elements(later, second.instance) == ["done"]
    assert _elements(later, first.instance) == ["chase"]


def test_a_message_after_the_timer_fired_is_kept_not_misdelivered(gateway):
    waiting = services.start_instance(gateway, "waiter", COUNTY, {"ref": "P-3"})
    later = gateway.at(T0 + timedelta(days=21))
    services.tick(later)
    assert _elements(later, waiting.instance) == ["chase"]
    services.start_instance(later, "sender", COUNTY, {"ref": "P-3"})
    services.tick(later)
    assert _elements(later, waiting.instance) == ["chase"]
    from engine.store.models import Message
    with later.db.unit_of_work() as session:
        assert [(m.name, m.status) for m in session.query(Message)] == [("result", "pending")]
