"""The analysts' workspace: pathways and forms edited in the browser modeler.

An analyst opens a pathway (their saved draft, else the newest deployed source), saves drafts as
often as they like (each save is checked and its problems returned, but a draft with problems is
still kept), and deploys a draft as a new version with a comment. Forms are drafts of their own,
found by form key; a pathway deploy takes the forms its tasks name from the workspace first, then
from the forms directory, then from earlier deployed versions.

Every save names the revision it started from; a save based on an older revision is refused
(`Conflict`), never merged, so two analysts cannot overwrite each other unnoticed. Only holders of
`admin.analyst` may read or write here; every save, import and deploy is an event with its actor.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .access import can_edit_pathways
from .bpmn.companions import FORM_KEY, FormFiles, FormKeyError, check_form_key
from .bpmn.problems import Problem
from .bpmn.validate import NS, validate_bytes
from .bpmn.validate_companions import read_decisions
from .bpmn.xmlsafe import UnsafeXmlError, parse_xml
from .directory import LEVELS
from .errors import Conflict, InvalidInput, NotFound, PermissionDenied
from .pathways import DeployResult, decision_sources_of, deploy_sources
from .runtime.services import actor_for
from .stages import STAGES
from .store import directory as directory_repo
from .store import pathways as pathways_repo
from .store import workspace as repo
from .store.models import WorkspaceFile
from .store.runtime import record_event

ROOT = Path(__file__).resolve().parent.parent
PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")
LEVEL_LABELS = {"province": ("省", "Province"), "city": ("市", "City"), "county": ("县（区）", "County"),
                "township": ("乡镇（街道）", "Township"), "village": ("村（社区）", "Village")}
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Saved:
    key: str
    revision: int
    saved_at: datetime
    problems: list


# --- access ------------------------------------------------------------------------------------

def require_analyst(session, username: str):
    actor = actor_for(session, username)
    if not can_edit_pathways(actor.grants):
        raise PermissionDenied("只有流程分析员（admin.analyst）可以查看、编辑和部署路径")
    return actor


def is_analyst(ctx, username: str) -> bool:
    with ctx.db.unit_of_work() as session:
        return can_edit_pathways(tuple(directory_repo.user_grants(session, username)))


# --- forms: where a form key is read from ------------------------------------------------------

def forms_dir(ctx) -> Path:
    return Path(ctx.settings.forms_dir) if ctx.settings.forms_dir else ROOT / "forms"


class WorkspaceForms:
    """Forms by key for checking and deploying from the modeler: the workspace's drafts first,
    then the forms directory, then the forms deployed with any version (newest first).
    Read once per request, so it needs no session afterwards."""

    def __init__(self, drafts: dict[str, bytes], files: FormFiles, deployed: dict[str, dict]):
        self._drafts, self._files, self._deployed = drafts, files, deployed
        self.root = files.root

    @classmethod
    def load(cls, ctx, session) -> "WorkspaceForms":
        deployed: dict[str, dict] = {}
        for version in repo.all_versions(session):
            for key, form in (version.forms or {}).items():
                deployed.setdefault(key, form)
        drafts = {row.key: row.content for row in repo.all_saved(session, "form")}
        return cls(drafts, FormFiles(forms_dir(ctx)), deployed)

    def read(self, key: str) -> bytes:
        check_form_key(key)
        if key in self._drafts:
            return self._drafts[key]
        try:
            return self._files.read(key)
        except FormKeyError:
            if key in self._deployed:
                return json.dumps(self._deployed[key], ensure_ascii=False).encode()
            raise

    def origins(self) -> dict[str, str]:
        """Every known form key → where it is read from: "workspace", "file" or "deployed"."""
        found = {key: "deployed" for key in self._deployed}
        root = self._files.root
        if root is not None and root.is_dir():
            for path in sorted(root.rglob("*")):
                key = path.relative_to(root).as_posix()
                if path.is_file() and FORM_KEY.match(key):
                    found[key] = "file"
        found.update({key: "workspace" for key in self._drafts})
        return dict(sorted(found.items()))


# --- reading BPMN drafts -----------------------------------------------------------------------

def _tree(data: bytes, filename: str, max_bytes: int):
    if len(data) > max_bytes:
        raise InvalidInput(f"{filename}: 文件过大 ({len(data)} 字节，上限 {max_bytes} 字节)")
    try:
        return parse_xml(data, filename, max_bytes)
    except UnsafeXmlError as err:
        raise InvalidInput(f"{filename} 第 {err.line or '?'} 行: {err.message}") from None


def _executable_processes(tree) -> list[tuple[str, str | None]]:
    return [(p.get("id"), p.get("name")) for p in tree.xpath("//bpmn:process", namespaces=NS)
            if (p.get("isExecutable") or "").strip().lower() == "true"]


def _single_process(tree, filename: str) -> tuple[str, str | None]:
    processes = _executable_processes(tree)
    if len(processes) != 1:
        raise InvalidInput(f"{filename}: 一个路径文件应当恰好有一个可执行流程 (isExecutable=\"true\")，"
                           f"这里有 {len(processes)} 个")
    process_id, name = processes[0]
    if not process_id or not PROCESS_ID.match(process_id):
        raise InvalidInput(f"{filename}: 流程 id {process_id!r} 无效：应以字母或下划线开头，只含字母、数字、_ 和 -")
    return process_id, name


def _checked_draft(ctx, process_id: str, data: bytes) -> None:
    """A draft must be safe XML whose one executable process is this pathway."""
    filename = f"{process_id}.bpmn"
    found, _ = _single_process(_tree(data, filename, ctx.settings.max_bpmn_bytes), filename)
    if found != process_id:
        raise InvalidInput(f"{filename}: 流程 id 已改为 {found}，与路径 {process_id} 不符；"
                           f"要另立新路径，请导出后在路径库中导入")


def decisions_for(session, process_id: str) -> list[tuple[str, bytes]]:
    """The decision tables a draft is checked and deployed with: those its newest version was
    deployed with, else the DMN files of the pathway library on disk."""
    latest = pathways_repo.latest_version(session, process_id)
    found = decision_sources_of(session, latest) if latest is not None else []
    if not found and (ROOT / "pathways").is_dir():
        found = [(path.name, path.read_bytes()) for path in sorted((ROOT / "pathways").glob("*.dmn"))]
    return found


def _check(ctx, session, process_id: str, data: bytes) -> list[Problem]:
    settings = ctx.settings
    roles = directory_repo.role_names(session) or None
    known = {v.process_id for v in pathways_repo.latest_versions(session)}
    known |= {row.key for row in repo.all_saved(session, "bpmn")}
    decisions, problems = read_decisions(decisions_for(session, process_id), settings.max_bpmn_bytes)
    problems += validate_bytes(data, f"{process_id}.bpmn", roles, known, settings.max_bpmn_bytes,
                               decisions, WorkspaceForms.load(ctx, session))
    return problems


def problems_json(problems) -> list[dict]:
    return [{"element": p.element, "line": p.line, "message": p.message} for p in problems]


# --- pathways ------------------------------------------------------------------------------------

def validate_pathway(ctx, username: str, process_id: str, data: bytes) -> list[Problem]:
    """Every problem the engine finds in a draft, without saving it."""
    filename = f"{process_id}.bpmn"
    try:
        _checked_draft(ctx, process_id, data)
    except InvalidInput as err:
        return [Problem(filename, 0, "-", err.message)]
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        return _check(ctx, session, process_id, data)


def _exists(session, process_id: str) -> bool:
    return pathways_repo.latest_version(session, process_id) is not None \
        or repo.saved(session, "bpmn", process_id) is not None


def pathway_source(ctx, username: str, process_id: str, version: int | None = None) -> tuple[bytes, int]:
    """(BPMN bytes, revision) of a pathway: a deployed version's source when `version` is given,
    else the saved draft, else the newest deployed source (revision 0: nothing saved yet)."""
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        if version is None:
            draft = repo.saved(session, "bpmn", process_id)
            if draft is not None:
                return draft.content, draft.revision
            deployed = pathways_repo.latest_version(session, process_id)
        else:
            deployed = pathways_repo.version_by_number(session, process_id, version)
        if deployed is None:
            raise NotFound(f"路径 {process_id} " + (f"没有版本 {version}" if version else "不存在"))
        return pathways_repo.source_content(session, deployed.source_sha256).content, 0


def write_file(session, kind: str, key: str, filename: str, data: bytes, revision: int | None,
           actor: str, now: datetime) -> int:
    """Store a workspace file; `revision` is the one the writer started from (None: overwrite
    whatever is there). The new revision, or Conflict."""
    sha = hashlib.sha256(data).hexdigest()
    row = repo.saved(session, kind, key)
    current = row.revision if row is not None else 0
    if revision is not None and revision != current:
        who = f"{row.saved_by}（{row.saved_at:%Y-%m-%d %H:%M} UTC）" if row is not None else "他人"
        raise Conflict(f"{key} 已由 {who}保存为第 {current} 版，您的修改基于第 {revision} 版；"
                       f"为免覆盖，未保存。请先导出您的修改，刷新后再合并")
    try:
        if row is None:
            session.add(WorkspaceFile(kind=kind, key=key, filename=filename, content=data, sha256=sha,
                                      revision=1, saved_at=now, saved_by=actor))
            session.flush()
            return 1
        changed = session.execute(
            update(WorkspaceFile).where(WorkspaceFile.id == row.id, WorkspaceFile.revision == current)
            .values(content=data, sha256=sha, filename=filename, revision=current + 1,
                    saved_at=now, saved_by=actor)).rowcount
    except IntegrityError:
        changed = 0
    if changed != 1:
        raise Conflict(f"{key} 刚被他人保存，为免覆盖，未保存。请先导出您的修改，刷新后再合并")
    return current + 1


def save_pathway(ctx, username: str, process_id: str, data: bytes, revision: int) -> Saved:
    """Save a draft based on `revision`; its problems come back with it."""
    _checked_draft(ctx, process_id, data)
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        if not _exists(session, process_id):
            raise NotFound(f"路径 {process_id} 不存在：请在路径库中新建或导入")
        new_revision = write_file(session, "bpmn", process_id, f"{process_id}.bpmn", data, revision,
                              username, now)
        record_event(session, now, "pathway_draft_saved", actor=username, process_id=process_id,
                     revision=new_revision, sha256=hashlib.sha256(data).hexdigest())
        problems = _check(ctx, session, process_id, data)
    return Saved(process_id, new_revision, now, problems)


def import_pathway(ctx, username: str, filename: str, data: bytes) -> Saved:
    """A .bpmn file uploaded as the draft of the pathway it defines (a new pathway, or a new
    revision of an existing one); stored byte for byte, so exporting it gives the same file."""
    tree = _tree(data, filename, ctx.settings.max_bpmn_bytes)
    process_id, _ = _single_process(tree, filename)
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        revision = write_file(session, "bpmn", process_id, f"{process_id}.bpmn", data, None, username, now)
        record_event(session, now, "pathway_imported", actor=username, process_id=process_id,
                     revision=revision, filename=filename[:200], sha256=hashlib.sha256(data).hexdigest())
        problems = _check(ctx, session, process_id, data)
    return Saved(process_id, revision, now, problems)


# The new-pathway template (start → one user task → end), a str.format text: {id} and {name}.
_TEMPLATE = Path(__file__).resolve().parent / "bpmn" / "new_pathway.bpmn.template"


def _xml_attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def new_pathway(ctx, username: str, process_id: str, name: str) -> Saved:
    """A new pathway from the template (start → one user task → end), as a draft."""
    process_id, name = (process_id or "").strip(), (name or "").strip()
    if not PROCESS_ID.match(process_id):
        raise InvalidInput(f"流程 id {process_id!r} 无效：应以字母或下划线开头，只含字母、数字、_ 和 -（至多 100 个字符）")
    if not name or len(name) > 200:
        raise InvalidInput("请填写路径名称（至多 200 个字符）")
    data = _TEMPLATE.read_text(encoding="utf-8").format(id=process_id, name=_xml_attr(name)).encode()
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        if _exists(session, process_id):
            raise Conflict(f"路径 {process_id} 已存在")
        revision = write_file(session, "bpmn", process_id, f"{process_id}.bpmn", data, 0, username, now)
        record_event(session, now, "pathway_created", actor=username, process_id=process_id, name=name)
        problems = _check(ctx, session, process_id, data)
    return Saved(process_id, revision, now, problems)


def deploy_pathway(ctx, username: str, process_id: str, revision: int, comment: str) -> DeployResult:
    """Deploy the saved draft (at `revision`) — or, with nothing saved, the newest deployed source
    with the workspace's forms — as the next version, with the analyst's comment."""
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("部署前请填写部署说明（改了什么、为什么）")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"部署说明过长（至多 {MAX_COMMENT} 个字符）")
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        draft = repo.saved(session, "bpmn", process_id)
        if draft is not None:
            if draft.revision != revision:
                raise Conflict(f"路径 {process_id} 的草稿已由 {draft.saved_by} 保存为第 {draft.revision} 版，"
                               f"您看到的是第 {revision} 版；请刷新后再部署")
            data = draft.content
        else:
            latest = pathways_repo.latest_version(session, process_id)
            if latest is None:
                raise NotFound(f"路径 {process_id} 不存在")
            data = pathways_repo.source_content(session, latest.source_sha256).content
        decisions = decisions_for(session, process_id)
        forms = WorkspaceForms.load(ctx, session)
    results = deploy_sources(ctx, [(f"{process_id}.bpmn", data)], decisions, forms, comment, username)
    return next(r for r in results if r.process_id == process_id)


def _name_of(data: bytes, fallback: str) -> str:
    try:
        processes = _executable_processes(parse_xml(data, "draft", len(data) + 1))
    except UnsafeXmlError:
        return fallback
    return (processes[0][1] if processes and processes[0][1] else fallback)


def library(ctx, username: str, query: str | None = None) -> list[dict]:
    """Every pathway (deployed or only drafted): its versions, how many instances run on each,
    and its draft; filtered by `query` on id or name."""
    needle = (query or "").strip().lower()
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        running = pathways_repo.running_counts(session)
        pathways: dict[str, dict] = {}
        for version in repo.all_versions(session):
            entry = pathways.setdefault(version.process_id, {
                "process_id": version.process_id, "name": version.name or version.process_id,
                "latest": version.version, "latest_sha256": version.source_sha256,
                "versions": [], "running": 0, "draft": None})
            count = running.get(version.id, 0)
            entry["versions"].append({"version": version.version, "id": version.id,
                                      "deployed_at": version.deployed_at, "deployed_by": version.deployed_by,
                                      "comment": version.comment, "running": count})
            entry["running"] += count
        for draft in repo.all_saved(session, "bpmn"):
            entry = pathways.setdefault(draft.key, {
                "process_id": draft.key, "name": _name_of(draft.content, draft.key), "latest": None,
                "latest_sha256": None, "versions": [], "running": 0, "draft": None})
            entry["draft"] = {"revision": draft.revision, "saved_at": draft.saved_at, "saved_by": draft.saved_by,
                              "pending": draft.sha256 != entry["latest_sha256"]}
    found = [entry for entry in pathways.values()
             if not needle or needle in entry["process_id"].lower() or needle in (entry["name"] or "").lower()]
    return sorted(found, key=lambda e: e["process_id"])


def pathway_info(ctx, username: str, process_id: str) -> dict:
    """One library entry, or NotFound."""
    for entry in library(ctx, username):
        if entry["process_id"] == process_id:
            return entry
    raise NotFound(f"路径 {process_id} 不存在")


def editor_config(ctx, username: str, process_id: str, locale: str = "zh") -> dict:
    """What the modeler offers in its fields: the directory's roles, the org levels, the care
    stages and every known form key."""
    english = (locale or "").lower().startswith("en")
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
        roles = [{"code": r.code, "name": r.name} for r in directory_repo.all_roles(session)]
        forms = sorted(WorkspaceForms.load(ctx, session).origins())
    return {
        "processId": process_id, "locale": "en" if english else "zh", "roles": roles,
        "levels": [{"code": code, "name": LEVEL_LABELS[code][1 if english else 0]} for code in LEVELS],
        "stages": [{"code": code, "name": labels[1 if english else 0]} for code, labels in STAGES.items()],
        "forms": forms,
    }
