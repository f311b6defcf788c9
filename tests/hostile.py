"""Helpers and fixtures shared by the hostile-input tests (tests/test_hostile_*.py and
tests/test_oversize_uploads.py): hostile input through every entry point, each refused with a message
that says what was wrong and where, and nothing lost or half-written (rows counted before and after,
the task still open, the draft and the previous draft revision intact).

Not a test module: fixtures defined here are imported by name into the test modules that use them."""
from __future__ import annotations

import shutil
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine.store.models import (BpmnSource, Event, HumanTask, Instance, PathwayVersion, TaskDraft,
                                 WorkspaceFile)

from conftest import FORMS, PATHWAYS, SHANGHAI, deploy_pathways
from web import MovableClock, WebClient

VILLAGE = "510781001001"
SOURCE = (PATHWAYS / "school_screening.bpmn").read_bytes()
LINES = SOURCE.split(b"\n")
TABLES = (PathwayVersion, BpmnSource, WorkspaceFile, Event, Instance, HumanTask, TaskDraft)
DRAFT = SOURCE.replace("学生心理筛查（PHQ-9）".encode(), "学生心理筛查（PHQ-9，新版）".encode(), 1)
FORM_KEY = "school_screening/screening.form"


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


def counts(ctx) -> dict[str, int]:
    """Rows in every table a refused request could have written to."""
    with ctx.db.unit_of_work() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in TABLES}


@pytest.fixture
def library(tmp_path):
    """A pathway library on disk: pathways/ (written by the test) beside a copy of forms/."""
    (tmp_path / "pathways").mkdir()
    shutil.copytree(FORMS, tmp_path / "forms")
    return tmp_path


@pytest.fixture
def app(region):
    from webui import create_app
    deploy_pathways(region, "school_screening")
    return create_app(region, now=MovableClock(nov(2, 9)).now)


def analyst(app) -> WebClient:
    client = WebClient(app)
    client.login("analyst_xu")
    client.get("/modeler/pathways/school_screening")
    return client


def post_body(client: WebClient, url: str, data: bytes, content_type: str, revision: int | None = None):
    headers = {"Content-Type": content_type, "X-CSRFToken": client.token, "Accept": "application/json"}
    if revision is not None:
        headers["X-Revision"] = str(revision)
    return client.client.post(url, data=data, headers=headers)
