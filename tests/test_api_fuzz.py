"""schemathesis against /api/v1/openapi.json: for every operation the document describes, requests
generated from its schemas (valid ones and, where the schema allows it, deliberately invalid ones)
against a region with real pathways, tasks and people, by a client holding every scope. No
request may bring a server error, and each answer must be what the document promises: its status
code, content type, headers and body schema. Generation is derandomized, so a CI failure replays
the same way on a developer's machine."""
from __future__ import annotations

from datetime import datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from engine import apiclients
from engine.people import register_person
from engine.runtime import services

from conftest import PATHWAYS, SHANGHAI, deploy_pathways
from web import MovableClock

VILLAGE = "510781001001"
TOWNSHIP = "510781001"
MEMBERS = [("health.supervisor", "510781"), ("education.teacher", TOWNSHIP), ("health.family_doctor", TOWNSHIP),
           ("health.mh_center_expert", "510781"), ("education.supervisor", "510781"), ("admin.analyst", "510000")]
EXAMPLES = 25
# Operations whose valid requests no OpenAPI 3.0 schema can describe, so a schema-valid request
# may be refused (422, naming the field) on its meaning: the check "schema-valid data is accepted"
# does not apply to them; every other check does.
BEYOND_THE_SCHEMA = {
    "POST /api/v1/tasks/{task_id}/complete": "which data a task takes is decided by that task's form",
    "POST /api/v1/tasks/{task_id}/reassign": "exactly one of to_user and to_org",
    "POST /api/v1/tasks/{task_id}/extend": "exactly one of until and workdays; until later than now",
    "GET /api/v1/indicators": "a real date; until not later than now, since before until",
    "GET /api/v1/indicators/tasks": "a real date; until not later than now, since before until",
    "POST /api/v1/pathways/{process_id}/versions": "the uploaded file is a valid BPMN pathway",
    "POST /api/v1/messages": "a message name and correlation properties some deployed pathway uses; "
                             "payload keys are variable names",
}


@pytest.fixture
def api_schema(region):
    from webui import create_app
    deploy_pathways(region, *sorted(p.stem for p in PATHWAYS.glob("*.bpmn")))
    start, late = datetime(2026, 11, 2, 9, tzinfo=SHANGHAI), datetime(2026, 11, 20, 9, tzinfo=SHANGHAI)
    register_person(region, "P-FUZZ-1", "测试对象", VILLAGE)
    for _ in range(3):
        services.start_instance(region.at(start), "school_screening", VILLAGE, {}, person="P-FUZZ-1")
    services.tick(region.at(late))                    # the screenings are late: escalations up the ladder
    app = create_app(region, now=MovableClock(late).now)
    _client, token = apiclients.create_client(region, "fuzz", MEMBERS, sorted(apiclients.SCOPES), actor="admin")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # NUL characters are refused in every request (PostgreSQL text cannot hold one; the API says so
    # in its description, and test_api.py proves the refusal), so valid requests carry none.
    schema.config.generation.update(allow_x00=False)
    return schema, app.test_client(), headers


def _first_cursor(client, path: str, headers: dict) -> str:
    """The cursor after the first item of a list: a real one, as a client would hold it."""
    page = client.get(f"{path}?limit=1", headers=headers).get_json()
    assert page.get("next_cursor"), f"{path} should list more than one item for the fuzz client: {page}"
    return page["next_cursor"]


def _fuzz(operation, mode: GenerationMode, client, headers: dict) -> str | None:
    """Run one operation's generated cases; the first failure, described, or None. A cursor is
    opaque: in valid requests it is one this list gave out (in invalid ones, anything)."""
    fixed = {}
    if mode is GenerationMode.POSITIVE and any(p.name == "cursor" for p in operation.query):
        fixed["query"] = {"cursor": _first_cursor(client, operation.path, headers)}

    excluded = [positive_data_acceptance] if operation.label in BEYOND_THE_SCHEMA else []

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case):
        case.call_and_validate(headers=headers, excluded_checks=excluded)
    try:
        run()
    except (Exception, BaseExceptionGroup) as failure:     # schemathesis' FailureGroup is a BaseExceptionGroup
        return f"{operation.label} [{mode.value}]: {failure}"
    return None


def test_every_operation_answers_as_documented_and_never_with_a_server_error(api_schema):
    """(pytest-parametrize of schemathesis needs pytest < 9: the operations are walked here, and
    every failure is reported, not just the first.)"""
    schema, client, headers = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [o.label for o in operations]
    failures = [found for operation in operations for mode in GenerationMode
                if (found := _fuzz(operation, mode, client, headers))]
    assert not failures, "\n\n".join(failures)
