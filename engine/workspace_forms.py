"""Forms in the analysts' workspace: every form key and where it is read from, form drafts saved
with revisions (checked as a deploy checks them), new forms blank or copied. A pathway deploy
takes a form's draft first (see `workspace.WorkspaceForms`)."""
from __future__ import annotations

import json
import re

from .bpmn.companions import MAX_FORM_BYTES, FormKeyError, check_form_key
from .errors import Conflict, InvalidInput, NotFound
from .forms import check_form
from .forms.bounds import load_form_json
from .store import pathways as pathways_repo
from .store import workspace as repo
from .store.runtime import record_event
from .workspace import Saved, WorkspaceForms, require_analyst, write_file


def form_library(ctx, username: str) -> list[dict]:
    """Every form key with where it is read from, its draft revision and the pathways (newest
    versions and drafts) that use it."""
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        origins = WorkspaceForms.load(ctx, session).origins()
        drafts = {row.key: row for row in repo.all_saved(session, "form")}
        used: dict[str, set[str]] = {}
        for version in pathways_repo.latest_versions(session):
            for key in version.forms or {}:
                used.setdefault(key, set()).add(version.process_id)
        for draft in repo.all_saved(session, "bpmn"):
            for key in re.findall(rb'formKey="([^"]+)"', draft.content):
                used.setdefault(key.decode(errors="replace"), set()).add(draft.key)
    return [{"key": key, "origin": origin, "used_by": sorted(used.get(key, ())),
             "revision": drafts[key].revision if key in drafts else 0,
             "saved_at": drafts[key].saved_at if key in drafts else None,
             "saved_by": drafts[key].saved_by if key in drafts else None}
            for key, origin in origins.items()]


def _form_key_or_fail(key: str) -> str:
    try:
        check_form_key(key)
    except FormKeyError as err:
        raise InvalidInput(err.message) from None
    return key


def form_source(ctx, username: str, key: str) -> tuple[bytes, int]:
    """(form JSON bytes, draft revision — 0 when nothing is saved in the workspace)."""
    _form_key_or_fail(key)
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        draft = repo.saved(session, "form", key)
        if draft is not None:
            return draft.content, draft.revision
        forms = WorkspaceForms.load(ctx, session)
    try:
        return forms.read(key), 0
    except FormKeyError as err:
        raise NotFound(err.message) from None


def _form_problems(key: str, data: bytes) -> tuple[dict, list[dict]]:
    if len(data) > MAX_FORM_BYTES:
        raise InvalidInput(f"表单 {key} 过大：{len(data)} 字节，上限 {MAX_FORM_BYTES} 字节，未保存")
    try:
        form = load_form_json(data)
    except ValueError as err:
        raise InvalidInput(f"表单 {key} 不是有效的 JSON：{err}，未保存") from None
    if not isinstance(form, dict):
        raise InvalidInput(f"表单 {key} 应是一个 JSON 对象（form-js 表单定义），而不是 {_json_kind(form)}，未保存")
    return form, [{"element": p.key or p.path, "path": p.path, "message": p.message}
                  for p in check_form(form, key)]


def _json_kind(value) -> str:
    return {list: "数组", str: "字符串", bool: "布尔值", type(None): "null"}.get(type(value), "数字")


def _form_bytes(form: dict) -> bytes:
    """As the files in forms/ are written: two-space indent, UTF-8, a final newline."""
    return (json.dumps(form, ensure_ascii=False, indent=2) + "\n").encode()


def save_form(ctx, username: str, key: str, data: bytes, revision: int) -> Saved:
    """Save a form draft based on `revision`; its problems come back with it (a form with
    problems is kept as a draft, and a deploy that needs it says what is wrong)."""
    _form_key_or_fail(key)
    form, problems = _form_problems(key, data)
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        new_revision = write_file(session, "form", key, key.rsplit("/", 1)[-1], _form_bytes(form), revision,
                              username, now)
        record_event(session, now, "form_draft_saved", actor=username, form_key=key, revision=new_revision)
    return Saved(key, new_revision, now, problems)


def new_form(ctx, username: str, key: str, copy_of: str | None = None) -> Saved:
    """A new form: empty, or a copy of an existing form (with a new id)."""
    key = _form_key_or_fail((key or "").strip())
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        forms = WorkspaceForms.load(ctx, session)
        if key in forms.origins():
            raise Conflict(f"表单 {key} 已存在")
        if copy_of:
            try:
                form = load_form_json(forms.read(_form_key_or_fail(copy_of)))
            except FormKeyError as err:
                raise NotFound(err.message) from None
            except ValueError as err:
                raise InvalidInput(f"表单 {copy_of} 不是有效的 JSON：{err}，无法复制") from None
            if not isinstance(form, dict):
                raise InvalidInput(f"表单 {copy_of} 不是 JSON 对象，无法复制")
        else:
            form = {"type": "default", "components": [], "schemaVersion": 16,
                    "exporter": {"name": "CarePath", "version": "0.1.0"}}
        form["id"] = re.sub(r"[^A-Za-z0-9_]", "_", key.rsplit(".", 1)[0])
        revision = write_file(session, "form", key, key.rsplit("/", 1)[-1], _form_bytes(form), 0, username, now)
        record_event(session, now, "form_created", actor=username, form_key=key, copy_of=copy_of)
    return Saved(key, revision, now, [])
