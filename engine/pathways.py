"""Deploying pathways and finding their specs.

A deploy validates every file first and stores nothing unless all are clean. Each executable
process becomes a pathway; a new immutable version is stored only when its source (or a called
pathway it depends on) changed. The serialized spec is stored once per version; restored specs
are cached in memory per version, so nothing is re-parsed per request. Running instances stay on
the version they started with.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from threading import Lock

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy.exc import SQLAlchemyError

from .bpmn.messages import CarePathMessage
from .bpmn.parser import CarePathParser
from .bpmn.serializer import PathwaySerializer
from .bpmn.validate import Problem, validate_bytes
from .bpmn.xmlsafe import UnsafeXmlError, parse_xml
from .errors import NotFound, PathwayInvalid
from .store import directory as directory_repo
from .store import pathways as repo
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


def deploy_files(engine, paths: list[str], comment: str | None = None,
                 actor: str | None = None) -> list[DeployResult]:
    """Validate and deploy BPMN files together; all or nothing."""
    max_bytes = engine.settings.max_bpmn_bytes
    sources = [(os.fspath(p), _read(os.fspath(p), max_bytes)) for p in paths]
    now = engine.clock.now()
    with engine.db.unit_of_work() as session:
        roles = {r.code: r.name for r in directory_repo.all_roles(session)} or None
        deployed = {v.process_id for v in repo.latest_versions(session)}
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
        problems = []
        for filename, data in sources:
            problems += validate_bytes(data, filename, roles, deployed | local, max_bytes)
        if problems:
            raise PathwayInvalid(f"{len(problems)} 个问题，未部署任何文件", problems)

        parser = CarePathParser()
        names: dict[str, tuple[str | None, str, bytes, str]] = {}
        for (filename, data), tree in zip(sources, trees):
            parser.add_bpmn_xml(tree, filename)
            sha = hashlib.sha256(data).hexdigest()
            for pid, pname in _process_names(tree).items():
                names[pid] = (pname, sha, data, filename)
        _add_called_sources(session, parser, local, max_bytes)

        results = []
        for process_id in sorted(set(parser.get_process_ids()) & set(names)):
            pname, sha, data, filename = names[process_id]
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
            depends_on = {}
            for called in sorted(subprocess_specs):
                if called not in names:
                    dep = repo.latest_version(session, called)
                    depends_on[called] = dep.id if dep else None
            latest = repo.latest_version(session, process_id)
            if latest is not None and latest.source_sha256 == sha and (latest.depends_on or {}) == depends_on:
                results.append(DeployResult(process_id, latest.version, latest.id, False, latest.name))
                continue
            repo.store_source(session, sha, os.path.basename(filename), data)
            version = repo.add_version(
                session, process_id=process_id, version=(latest.version + 1) if latest else 1,
                name=pname, source_sha256=sha,
                spec_json=engine.serializer.specs_to_json(spec, subprocess_specs),
                message_starts=_message_start_names(spec), depends_on=depends_on,
                comment=comment, deployed_at=now, deployed_by=actor)
            replace_message_starts(session, process_id, version.message_starts)
            record_event(session, now, "pathway_deployed", actor=actor, process_id=process_id,
                         version=version.version, sha256=sha, comment=comment)
            results.append(DeployResult(process_id, version.version, version.id, True, pname))
    return results


def _add_called_sources(session, parser: CarePathParser, local: set[str], max_bytes: int) -> None:
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


def validation_context(engine) -> tuple[dict[str, str] | None, set[str] | None]:
    """Roles (code → name) and deployed process ids, for validating files against this
    deployment; (None, None) when there is no database yet (validation then skips those rules)."""
    if engine.db.sqlite_file_missing():
        return None, None
    try:
        with engine.db.unit_of_work() as session:
            roles = {r.code: r.name for r in directory_repo.all_roles(session)} or None
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
    version = repo.latest_version(session, process_id)
    if version is None:
        raise NotFound(f"路径 {process_id} 尚未部署 (pathway not deployed)")
    return version
