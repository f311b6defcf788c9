"""Moving running instances to another version of their pathway, with a preview first.

Running instances stay on the version they started with until an analyst migrates selected ones.
`preview_migration` says, per instance, where each active token (a user task waiting for someone, a
timer or message being waited for, a call activity running its called pathway, a step in error)
lands in the target version and what changed about it; it writes nothing. `migrate_instances`
applies the same plan, one unit of work per instance: a refused or failing instance changes
nothing and the others still migrate.

How a token moves (SpiffWorkflow's `diff_workflow` / `migrate_workflow`, with CarePath's rules):
* An element is matched by id (Spiff also matches a renamed element by its place in the flow).
  A token whose element has no counterpart refuses the whole instance: it would have nowhere to go.
* A waiting user task keeps its Spiff task id, so its task row survives with its holder, claim,
  grants and deadline; only its name and form follow the target version. Tasks created after the
  migration follow the target version (owner, deadline, form).
* A waiting timer or message catch keeps what it was armed with (its internal data and data), so
  a `P1M` timer armed before the migration fires at its original moment. A timer whose definition
  changed is armed again from the migration time, and the preview says so.
* Called pathways (call activities) and sub-processes move with the instance, against the
  subprocess specs deployed with the target version.
* An instance in error may move: its failed step runs again on the target version (migrating is
  how a fixed pathway reaches an instance stuck on a broken script); if it fails again the
  instance is back in error with the new message.
* Completed history of an element the target version removed is dropped from the workflow's task
  tree (the task rows and the event log keep it); predicted paths are predicted again.

Before anything is saved the migrated state is serialized and restored against the target specs,
so an instance that would not load again is refused instead of being broken. The preview loads
each selected instance's workflow (bounded by MAX_INSTANCES): where tokens wait on gateways,
timers and called pathways is not in the tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from SpiffWorkflow.bpmn.util.diff import diff_workflow
from SpiffWorkflow.util.task import TaskState

from .access import ANALYST, can_migrate
from .bpmn.versiondiff import VersionDiff, diff_sources
from .errors import CarePathError, Conflict, InvalidInput, NotFound
from .pathways import load_specs
from .runtime import instances as runtime
from .runtime.migrate import TokenContext, Unsafe, move, tokens
from .runtime.services import task_dict
from .store import directory as directory_repo
from .store import pathways as pathway_repo
from .store import workspace as workspace_repo
from .store import runtime as runtime_repo
from .store.models import Instance, PathwayVersion, Person
from .workspace import require_analyst

RUNNABLE = ("running", "error")
MAX_INSTANCES = 500


@dataclass(frozen=True)
class InstancePlan:
    """Where one instance's tokens land in the target version. `tokens`: one dict per active
    token {process, element, element_name, state, task, lands_on, lands_on_name, changed, note}
    (`process`: the pathway whose element it is, a called one included; `task`: the open task
    row's id for a user task; `changed`: what differs about the element). `ok` False with
    `refusal` saying why, in Chinese. `lock_version` lets `migrate_instances(expected=...)`
    refuse an instance that changed after this preview."""
    instance: int
    process_id: str
    org: str
    status: str
    person_ref: str | None
    person_name: str | None
    from_version: int
    to_version: int
    from_version_id: int
    to_version_id: int
    lock_version: int
    tokens: list = field(default_factory=list)
    ok: bool = True
    refusal: str | None = None


@dataclass(frozen=True)
class MigrationResult:
    """`outcome` "migrated"; or "refused" / "conflict" (someone changed the instance meanwhile)
    with `message` saying why, and nothing changed. After a migration `status` and `tasks` (its
    open tasks, as `task_dict`) are the instance's."""
    instance: int
    ok: bool
    outcome: str
    message: str | None
    from_version: int | None
    to_version: int | None
    plan: InstancePlan | None
    status: str | None = None
    tasks: list = field(default_factory=list)


# --- versions ------------------------------------------------------------------------------------

def version_or_fail(session, process_id: str, number: int) -> PathwayVersion:
    version = pathway_repo.version_by_number(session, process_id, number)
    if version is None:
        raise NotFound(f"路径 {process_id} 没有版本 {number}")
    return version


def target_version_id(ctx, process_id: str, number: int) -> int:
    """The id of version `number` of a pathway (what the migration functions take)."""
    with ctx.db.unit_of_work() as session:
        return version_or_fail(session, process_id, number).id


def targets_by_number(ctx, instance_ids: list[int], number: int) -> dict[int, int]:
    """Instance id → the id of version `number` of that instance's pathway; NotFound when an
    instance or that version does not exist."""
    with ctx.db.unit_of_work() as session:
        return {i: version_or_fail(session, _instance_or_fail(session, i).process_id, number).id
                for i in _ids(instance_ids)}


def diff_versions(ctx, process_id: str, from_version: int, to_version: int) -> VersionDiff:
    """What changed in a pathway between two of its deployed versions (BPMN and forms)."""
    with ctx.db.unit_of_work() as session:
        old = version_or_fail(session, process_id, from_version)
        new = version_or_fail(session, process_id, to_version)
        old_source = pathway_repo.source_content(session, old.source_sha256)
        new_source = pathway_repo.source_content(session, new.source_sha256)
        return diff_sources(old_source.content, new_source.content, old.forms or {}, new.forms or {},
                            process_id=process_id)


def diff_versions_for_user(ctx, username: str, process_id: str, from_version: int,
                           to_version: int) -> VersionDiff:
    with ctx.db.unit_of_work() as session:
        require_analyst(session, username)
    return diff_versions(ctx, process_id, from_version, to_version)


# --- services ------------------------------------------------------------------------------------

def preview_migration(ctx, instance_ids: list[int], target_version_id: int) -> list[InstancePlan]:
    """Per instance (in the order given), where its tokens would land and whether it can move.
    Writes nothing. NotFound if an instance or the target version does not exist."""
    ids = _ids(instance_ids)
    plans = []
    with ctx.db.unit_of_work() as session:
        target = _target_or_fail(session, target_version_id)
        for instance_id in ids:
            try:
                plans.append(_migrate(ctx, session, _instance_or_fail(session, instance_id), target)[0])
            except _Refused as refused:
                plans.append(refused.plan)
        session.rollback()
    return plans


def migrate_instances(ctx, instance_ids: list[int], target_version_id: int, actor: str | None,
                      now=None, expected: dict[int, int] | None = None) -> list[MigrationResult]:
    """Migrate each instance (in the order given) in its own unit of work. `expected` (instance
    id → `lock_version` from the preview) makes an instance changed since then a conflict.
    NotFound, with nothing migrated, if an instance or the target version does not exist."""
    ctx = ctx.at(now) if now is not None else ctx
    ids = _ids(instance_ids)
    with ctx.db.unit_of_work() as session:
        _target_or_fail(session, target_version_id)
        for instance_id in ids:
            _instance_or_fail(session, instance_id)
    results = [_migrate_one(ctx, i, target_version_id, actor, (expected or {}).get(i)) for i in ids]
    if any(r.ok for r in results):
        from .runtime.messaging import dispatch_messages
        dispatch_messages(ctx)
    return results


def preview_migration_for_user(ctx, username: str, instance_ids: list[int],
                               target_version_id: int) -> list[InstancePlan]:
    """As `preview_migration`, for an analyst at or above each instance's unit: an instance
    outside their jurisdiction answers exactly like one that does not exist (NotFound)."""
    _check_access(ctx, username, instance_ids)
    return preview_migration(ctx, instance_ids, target_version_id)


def migrate_instances_for_user(ctx, username: str, instance_ids: list[int], target_version_id: int,
                               now=None, expected: dict[int, int] | None = None) -> list[MigrationResult]:
    """As `migrate_instances` by `username`, with the access rule of `preview_migration_for_user`."""
    _check_access(ctx, username, instance_ids)
    return migrate_instances(ctx, instance_ids, target_version_id, username, now=now, expected=expected)


def candidates_for_user(ctx, username: str, process_id: str, number: int, limit: int = MAX_INSTANCES) -> dict:
    """What an analyst may move to version `number`: the pathway's running (and failed) instances
    on other versions in their jurisdiction, oldest first, at most `limit`. Analysts read no
    person data (engine.privacy), so no names."""
    with ctx.db.unit_of_work() as session:
        actor = require_analyst(session, username)
        target = version_or_fail(session, process_id, number)
        paths = [path for role, path in actor.grants if role == ANALYST]
        rows = workspace_repo.instances_off_version(session, process_id, target.id, paths, limit + 1)
    return {"target": {"version": target.version, "id": target.id}, "more": len(rows) > limit,
            "instances": [{"instance": row.id, "version": version, "org_name": org_name,
                           "status": row.status, "started_at": row.started_at}
                          for row, version, org_name, _person in rows[:limit]]}


def _check_access(ctx, username: str, instance_ids: list[int]) -> None:
    with ctx.db.unit_of_work() as session:
        actor = require_analyst(session, username)
        for instance_id in _ids(instance_ids):
            row = session.get(Instance, instance_id)
            unit = directory_repo.org_unit(session, row.org_code) if row is not None else None
            if unit is None or not can_migrate(actor.grants, unit.path):
                raise NotFound(f"实例 {instance_id} 不存在")


def _ids(instance_ids) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in instance_ids))
    if not ids:
        raise InvalidInput("请选择要迁移的实例")
    if len(ids) > MAX_INSTANCES:
        raise InvalidInput(f"一次最多迁移 {MAX_INSTANCES} 个实例（选择了 {len(ids)} 个）")
    return ids


def _target_or_fail(session, version_id: int) -> PathwayVersion:
    version = pathway_repo.version_by_id(session, version_id)
    if version is None:
        raise NotFound(f"路径版本 {version_id} 不存在")
    return version


def _instance_or_fail(session, instance_id: int) -> Instance:
    row = session.get(Instance, instance_id)
    if row is None:
        raise NotFound(f"实例 {instance_id} 不存在")
    return row


def _migrate_one(ctx, instance_id: int, target_id: int, actor: str | None,
                 expected_lock: int | None) -> MigrationResult:
    try:
        with ctx.db.unit_of_work() as session:
            row = _instance_or_fail(session, instance_id)
            if expected_lock is not None and row.lock_version != expected_lock:
                raise Conflict(f"实例 {instance_id} 在预览之后已有变化，请重新预览")
            plan, workflow = _migrate(ctx, session, row, _target_or_fail(session, target_id))
            _apply(ctx, session, row, workflow, plan, actor)
            tasks = [task_dict(t) for t in runtime_repo.active_tasks_of_instance(session, row.id)]
            return MigrationResult(row.id, True, "migrated", None, plan.from_version, plan.to_version,
                                   plan, row.status, tasks)
    except _Refused as refused:
        plan = refused.plan
        return MigrationResult(instance_id, False, "refused", plan.refusal, plan.from_version,
                               plan.to_version, plan)
    except Conflict as err:
        return MigrationResult(instance_id, False, "conflict", err.message, None, None, None)
    except CarePathError as err:  # e.g. the instance was deleted meanwhile
        return MigrationResult(instance_id, False, "refused", err.message, None, None, None)


def _apply(ctx, session, row: Instance, workflow, plan: InstancePlan, actor: str | None) -> None:
    """Run the migrated workflow on, save it on the target version and say so in the log."""
    row.version_id = plan.to_version_id
    runtime_repo.record_event(session, ctx.clock.now(), "instance_migrated", row.id, actor=actor,
                              from_version=plan.from_version, to_version=plan.to_version,
                              from_version_id=plan.from_version_id, to_version_id=plan.to_version_id,
                              tokens=[{k: t[k] for k in ("process", "element", "state", "lands_on")}
                                      for t in plan.tokens])
    runtime.persist(ctx, session, row, workflow, actor, runtime.advance(workflow))
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    for human in runtime_repo.active_tasks_of_instance(session, row.id):
        task = ready.get(human.spiff_task_id)
        if task is not None:   # the open task keeps holder and deadline; name and form follow the version
            human.name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
            human.form_key = (getattr(task.task_spec, "extensions", None) or {}).get("formKey")
    session.flush()


class _Refused(Exception):
    def __init__(self, plan: InstancePlan):
        super().__init__(plan.refusal)
        self.plan = plan


def _refuse(plan: InstancePlan, reasons: list[str]):
    return _Refused(replace(plan, ok=False, refusal="；".join(reasons)))


def _migrate(ctx, session, row: Instance, target: PathwayVersion):
    """(plan, migrated workflow restored against the target specs), or _Refused with the plan.
    Writes nothing."""
    source = pathway_repo.version_by_id(session, row.version_id)
    person = session.get(Person, row.person_id) if row.person_id else None
    plan = InstancePlan(
        instance=row.id, process_id=row.process_id, org=row.org_code, status=row.status,
        person_ref=person.ref if person else None, person_name=person.name if person else None,
        from_version=source.version, to_version=target.version, from_version_id=source.id,
        to_version_id=target.id, lock_version=row.lock_version)
    reasons = []
    if target.process_id != row.process_id:
        reasons.append(f"版本 {target.version}（编号 {target.id}）属于路径 {target.process_id}，"
                       f"实例 {row.id} 属于路径 {row.process_id}")
    elif target.id == row.version_id:
        reasons.append(f"实例 {row.id} 已在版本 {target.version} 上")
    if row.status not in RUNNABLE:
        ended = {"completed": "完成", "cancelled": "取消"}.get(row.status, row.status)
        reasons.append(f"实例 {row.id} 已{ended}，不能迁移")
    if reasons:
        raise _refuse(plan, reasons)

    try:
        _, workflow = runtime.load(ctx, session, row.id)
    except Conflict as err:       # a state format that needs upgrading first
        raise _refuse(plan, [err.message]) from err
    new_spec, new_subprocess_specs = load_specs(ctx, session, target.id)
    registry = ctx.serializer.registry
    try:
        top_diff, sub_diffs = diff_workflow(registry, workflow, new_spec, new_subprocess_specs)
    except KeyError as err:
        raise _refuse(plan, [f"无法比对实例 {row.id} 与版本 {target.version}：元素 {err} 不在流程的连线上"]) from err
    context = TokenContext(registry, target.version, ctx.clock.local,
                           {t.spiff_task_id: t.id for t in runtime_repo.active_tasks_of_instance(session, row.id)},
                           frozenset(k for k, v in (source.forms or {}).items() if (target.forms or {}).get(k, v) != v))
    found, reasons = tokens(workflow, top_diff, sub_diffs, context)
    plan = replace(plan, tokens=found)
    if reasons:
        raise _refuse(plan, reasons)
    try:
        return plan, move(ctx, workflow, top_diff, sub_diffs, new_spec, new_subprocess_specs)
    except Unsafe as err:
        raise _refuse(plan, [f"实例 {row.id} 无法安全迁移到版本 {target.version}：{err}"]) from err
