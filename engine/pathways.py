"""Deploying pathways and finding their specs.

A deploy validates every file first and stores nothing unless all are clean. Each executable
process becomes a pathway; a new immutable version is stored only when its source (or a called
pathway it depends on) changed. The serialized spec is stored once per version; restored specs
are cached in memory per version, so nothing is re-parsed per request. Running instances stay on
the version they started with.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from threading import Lock

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS
from sqlalchemy.exc import SQLAlchemyError

from .bpmn.messages import CarePathMessage
from .bpmn.parser import CarePathParser
from .bpmn.serializer import PathwaySerializer
from .bpmn.companions import FormFiles, FormKeyError, decisions_beside, forms_root_for
from .bpmn.problems import Problem
from .bpmn.validate import NS, validate_bytes
from .bpmn.validate_companions import Decisions, load_form, read_decisions
from .bpmn.xmlsafe import UnsafeXmlError, parse_xml
from .errors import NotFound, PathwayInvalid
from .store import directory as directory_repo
from .store import pathways as repo
from .store import reference
from .store.runtime import record_event, replace_message_starts


@dataclass(frozen=True)
class DeployResult:
    process_id: str
    version: int
    version_id: int
    changed: bool
    name: str | None


class SpecCache:
    """Restored specs per pathway version id; specs are immutable, so sharing is safe."""

    def __init__(self, serializer: PathwaySerializer, capacity: int = 256):
        self._serializer = serializer
        self._capacity = capacity
        self._specs: dict[int, tuple] = {}
        self._lock = Lock()

    def get(self, version_id: int, spec_json_loader) -> tuple:
        with self._lock:
            cached = self._specs.get(version_id)
        if cached is not None:
            return cached
        specs = self._serializer.specs_from_json(spec_json_loader())
        with self._lock:
            if len(self._specs) >= self._capacity:
                self._specs.pop(next(iter(self._specs)))
            self._specs[version_id] = specs
        return specs

    def __len__(self) -> int:
        return len(self._specs)


def _read(path: str, max_bytes: int) -> bytes:
    size = os.path.getsize(path)
    if size > max_bytes:
        raise PathwayInvalid(f"{path}: 文件过大 ({size} 字节)", [
            Problem(path, 1, "-", f"文件过大: {size} 字节，上限 {max_bytes} 字节")])
    with open(path, "rb") as handle:
        return handle.read()


def _process_names(tree) -> dict[str, str | None]:
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    return {p.get("id"): p.get("name") for p in tree.xpath("//bpmn:process", namespaces=ns)}


def _message_start_names(spec) -> list[str]:
    return sorted({ts.event_definition.name for ts in spec.task_specs.values()
                   if isinstance(ts, StartEvent) and isinstance(ts.event_definition, CarePathMessage)})


def _read_sources(paths: list[str], max_bytes: int) -> tuple[list, list]:
    """(BPMN sources, DMN sources) as (filename, bytes): DMN files named explicitly plus those
    beside each BPMN file."""
    bpmn, dmn, seen = [], [], set()
    for path in paths:
        target = dmn if os.fspath(path).endswith(".dmn") else bpmn
        target.append((os.fspath(path), _read(os.fspath(path), max_bytes)))
        seen.add(os.path.realpath(path))
    for filename, _ in list(bpmn):
        for beside in decisions_beside(filename):
            if os.path.realpath(beside) not in seen:
                seen.add(os.path.realpath(beside))
                dmn.append((os.path.relpath(beside), _read(os.fspath(beside), max_bytes)))
    return bpmn, dmn


def _task_form_keys(spec, subprocess_specs: dict) -> set[str]:
    keys = set()
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            key = (getattr(task_spec, "extensions", None) or {}).get("formKey")
            if key:
                keys.add(key.strip())
    return keys


def _collect_forms(session, keys: set[str], forms: FormFiles, called: dict[str, int | None]) -> dict:
    """Form definitions by key: from the forms directory, else from the deployed versions of
    called pathways (whose forms were checked when they were deployed)."""
    deployed = {}
    for version_id in called.values():
        version = repo.version_by_id(session, version_id) if version_id else None
        deployed.update((version.forms or {}) if version is not None else {})
    found, missing = {}, []
    for key in sorted(keys):
        try:
            found[key] = load_form(forms, key)
        except FormKeyError as err:
            if key in deployed:
                found[key] = deployed[key]
            else:
                missing.append(Problem(str(forms.root or "-"), 0, key, err.message))
    if missing:
        raise PathwayInvalid(f"{len(missing)} 个表单问题，未部署任何文件", missing)
    return found


def _bundle_sha(sha: str, tree, decisions: Decisions, forms: dict) -> str:
    digest = hashlib.sha256(sha.encode())
    for task in tree.xpath("//bpmn:businessRuleTask", namespaces=NS):
        ref = task.get(f"{{{CAMUNDA_MODEL_NS}}}decisionRef")
        if ref in decisions.by_id:
            digest.update(ref.encode() + hashlib.sha256(decisions.by_id[ref][1]).digest())
    digest.update(json.dumps(forms, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def deploy_files(engine, paths: list[str], comment: str | None = None,
                 actor: str | None = None) -> list[DeployResult]:
    """Validate and deploy BPMN files together with the DMN tables beside them and the forms
    their tasks name; all or nothing."""
    sources, dmn_sources = _read_sources(paths, engine.settings.max_bpmn_bytes)
    if not sources:
        raise PathwayInvalid("没有 BPMN 文件可部署 (no .bpmn file given)", [])
    forms = FormFiles(forms_root_for(sources[0][0], engine.settings.forms_dir))
    return deploy_sources(engine, sources, dmn_sources, forms, comment, actor)


def deploy_sources(engine, sources: list[tuple[str, bytes]], dmn_sources: list[tuple[str, bytes]],
                   forms, comment: str | None = None, actor: str | None = None) -> list[DeployResult]:
    """Validate and deploy BPMN documents (filename, bytes) with these decision tables, reading
    form keys from `forms` (anything with `read(key)` and `root`); all or nothing."""
    max_bytes = engine.settings.max_bpmn_bytes
    now = engine.clock.now()
    with engine.db.unit_of_work() as session:
        roles = directory_repo.role_names(session) or None
        deployed = {v.process_id for v in repo.latest_versions(session)}
        decisions, problems = read_decisions(dmn_sources, max_bytes)
        local = set()
        trees = []
        for filename, data in sources:
            try:
                tree = parse_xml(data, filename, max_bytes)
            except UnsafeXmlError:
                tree = None   # reported with its line by validate_bytes below
            if tree is not None:
                local |= set(_process_names(tree))
            trees.append(tree)
        for filename, data in sources:
            problems += validate_bytes(data, filename, roles, deployed | local, max_bytes,
                                       decisions, forms)
        if problems:
            raise PathwayInvalid(f"{len(problems)} 个问题，未部署任何文件", problems)

        parser = CarePathParser()
        for dmn_file, root in decisions.roots():
            parser.add_dmn_xml(root, dmn_file)
        names: dict[str, tuple[str | None, str, bytes, str, object]] = {}
        for (filename, data), tree in zip(sources, trees):
            parser.add_bpmn_xml(tree, filename)
            sha = hashlib.sha256(data).hexdigest()
            for pid, pname in _process_names(tree).items():
                names[pid] = (pname, sha, data, filename, tree)
        add_called_sources(session, parser, local, max_bytes)

        results = []
        for process_id in sorted(set(parser.get_process_ids()) & set(names)):
            pname, sha, data, filename, tree = names[process_id]
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
            depends_on = {}
            for called in sorted(subprocess_specs):
                if called not in names:
                    dep = repo.latest_version(session, called)
                    depends_on[called] = dep.id if dep else None
            version_forms = _collect_forms(session, _task_form_keys(spec, subprocess_specs),
                                           forms, depends_on)
            bundle = _bundle_sha(sha, tree, decisions, version_forms)
            latest = repo.latest_version(session, process_id)
            if latest is not None and latest.bundle_sha256 == bundle and (latest.depends_on or {}) == depends_on:
                results.append(DeployResult(process_id, latest.version, latest.id, False, latest.name))
                continue
            repo.store_source(session, sha, os.path.basename(filename), data)
            version = repo.add_version(
                session, process_id=process_id, version=(latest.version + 1) if latest else 1,
                name=pname, source_sha256=sha,
                spec_json=engine.serializer.specs_to_json(spec, subprocess_specs),
                message_starts=_message_start_names(spec), depends_on=depends_on,
                forms=version_forms, bundle_sha256=bundle,
                decision_sources=_store_decisions(session, tree, decisions),
                comment=comment, deployed_at=now, deployed_by=actor)
            replace_message_starts(session, process_id, version.message_starts)
            record_event(session, now, "pathway_deployed", actor=actor, process_id=process_id,
                         version=version.version, sha256=sha, bundle_sha256=bundle, comment=comment,
                         forms=sorted(version_forms))
            results.append(DeployResult(process_id, version.version, version.id, True, pname))
    return results


def _store_decisions(session, tree, decisions: Decisions) -> dict[str, str]:
    """Store the DMN files this process's business rule tasks use; filename → sha256."""
    stored = {}
    for task in tree.xpath("//bpmn:businessRuleTask", namespaces=NS):
        found = decisions.by_id.get(task.get(f"{{{CAMUNDA_MODEL_NS}}}decisionRef"))
        if found is None:
            continue
        filename, data, _root = found
        sha = hashlib.sha256(data).hexdigest()
        repo.store_source(session, sha, os.path.basename(filename), data)
        stored[os.path.basename(filename)] = sha
    return stored


def decision_sources_of(session, version) -> list[tuple[str, bytes]]:
    """The DMN files a deployed version was deployed with, as (filename, bytes)."""
    found = []
    for filename, sha in sorted((version.decision_sources or {}).items()):
        source = repo.source_content(session, sha)
        if source is not None:
            found.append((filename, source.content))
    return found


def add_called_sources(session, parser: CarePathParser, local: set[str], max_bytes: int) -> None:
    """Make deployed pathways that the new files call available to the parser."""
    pending = set(parser.get_process_dependencies()) - local
    seen: set[str] = set()
    while pending:
        called = pending.pop()
        seen.add(called)
        version = repo.latest_version(session, called)
        if version is None:
            continue
        source = repo.source_content(session, version.source_sha256)
        tree = parse_xml(source.content, source.filename, max_bytes)
        before = set(parser.get_process_ids())
        ids = set(_process_names(tree))
        if ids & before:
            continue
        parser.add_bpmn_xml(tree, source.filename)
        pending |= (set(parser.get_process_dependencies()) - local - seen - ids)


def processes_in(paths, max_bytes: int) -> set[str]:
    """Process ids defined in these files (unreadable or unsafe files count for nothing here;
    validating them reports why)."""
    found = set()
    for path in paths:
        try:
            found |= set(_process_names(parse_xml(_read(os.fspath(path), max_bytes), os.fspath(path), max_bytes)))
        except (OSError, PathwayInvalid, UnsafeXmlError):
            continue
    return found


def validation_context(engine) -> tuple[dict[str, str] | None, set[str] | None]:
    """Roles (code → name) and deployed process ids, for validating files against this
    deployment; (None, None) when there is no database yet (validation then skips those rules)."""
    if engine.db.sqlite_file_missing():
        return None, None
    try:
        with engine.db.unit_of_work() as session:
            roles = directory_repo.role_names(session) or None
            deployed = {v.process_id for v in repo.latest_versions(session)}
    except SQLAlchemyError:
        return None, None
    return roles, deployed


def load_specs(engine, session, version_id: int) -> tuple:
    """(spec, subprocess_specs) of a version, restored once and cached."""
    def loader():
        version = repo.version_by_id(session, version_id)
        if version is None:
            raise NotFound(f"路径版本 {version_id} 不存在")
        return version.spec_json
    return engine.specs.get(version_id, loader)


def latest_version_or_fail(session, process_id: str):
    """(id, version, message_starts) of the newest deployed version; NotFound if none."""
    version = reference.cached(session, "versions", process_id,
                               lambda: repo.latest_version_brief(session, process_id))
    if version is None:
        raise NotFound(f"路径 {process_id} 尚未部署 (pathway not deployed)")
    return version
