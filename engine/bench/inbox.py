"""inbox_p95_ms: one user's inbox when a million tasks are open, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from ..bpmn.xmlsafe import parse_xml
from ..pathways import deploy_files
from ..runtime import services
from ..store import directory as directory_repo
from ..store import runtime as repo
from . import population, results
from .backlog import settle
from .measure import p95, summary_ms, timed
from .progress import note, progress
from .workbench import LOOP_BPMN, LOOP_PROCESS, T0, Skipped, library_dir

KEY = "inbox_p95_ms"
USERS = ("teacher_wang", "vdoc_zhao", "mhdoc_qian", "fdoc_zhou", "psych_liu", "psychiatrist_zheng",
         "expert_chen", "sw_tang")
INSTANCES = 1_000               # the open tasks belong to this many (cloned) instances
CLAIMED_EVERY = 20              # one task in 20 is claimed by someone holding its role
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
LEVELS = ("province", "city", "county", "township", "village")

METHOD = (
    "在一个数据库中写入 100 万个待办人工任务及其授权行（human_tasks、task_grants；SQLite 用递归 CTE 的 "
    "INSERT … SELECT，PostgreSQL 用 generate_series，分批写入、一个事务）。任务的分布取自路径库本身：pathways/*.bpmn "
    "中每个用户任务（其角色、orgLevel、阶段、表单）在对应层级的每个演示机构各占一个“槽位”——未指定层级的任务"
    "落在村（实例所在地），所以大多数任务在村和乡镇、遍及各角色；截止时间在前后一个多月内分布（约一成无期限），"
    "每 20 个中有 1 个已被持有该角色的用户认领。演示区域只有 5 个村、4 个乡镇，所以一个乡镇用户可见的任务"
    "占全部任务的百分之几（真实的市里会少得多），见“每个用户可见的任务数”。PostgreSQL 写完后 ANALYZE（相当于 autovacuum 随后会做的），"
    "SQLite 不做 ANALYZE（部署中也不会做）。然后对 8 个真实演示用户（村、乡镇、县、市各级）轮流计时"
    " `services.tasks_for_user`（收件箱页面所调用的：用户与授权、收件箱查询前 50 条、剩余工作日），"
    "先预热一轮；数值 = 全部计时的 p95（目标 ≤ 20 ms）。同时给出只计收件箱 SQL（`store.runtime.inbox`）的 p95、"
    "每个用户可见的任务数和查询计划。"
)


def _library_tasks() -> list[dict]:
    """Each user task of the library: process, element, name, roles, org level, stage, form."""
    found = []
    for path in sorted(library_dir().glob("*.bpmn")):
        tree = parse_xml(path.read_bytes(), str(path))
        for process in tree.iter(f"{BPMN}process"):
            for task in process.iter(f"{BPMN}userTask"):
                groups = task.get(f"{CAMUNDA}candidateGroups") or ""
                roles = [r.strip() for r in groups.split(",") if r.strip()]
                if not roles:
                    continue
                props = {p.get("name"): p.get("value") for p in task.iter(f"{CAMUNDA}property")}
                found.append({"process_id": process.get("id"), "element": task.get("id"),
                              "name": task.get("name") or task.get("id"), "roles": roles,
                              "level": props.get("orgLevel"), "stage": props.get("stage"),
                              "form_key": task.get(f"{CAMUNDA}formKey")})
    return found


def slots(session) -> list[dict]:
    """One slot per (library task, demo unit at the task's level), with a user who may claim it."""
    units, memberships = population.directory_rows(session)
    slots_ = []
    for task in _library_tasks():
        level = task["level"] if task["level"] in LEVELS else "village"
        for code, path, unit_level in units:
            if unit_level != level:
                continue
            holders = sorted(u for u, role, where in memberships
                             if role == task["roles"][0] and path.startswith(where))
            slots_.append({"role_code": task["roles"][0], "candidate_roles": task["roles"][:1],
                           "org_code": code, "org_path": path, "element": task["element"],
                           "name": task["name"], "process_id": task["process_id"],
                           "stage": task["stage"], "form_key": task["form_key"],
                           "holder": holders[0] if holders else None})
    return slots_


def dues() -> list[tuple]:
    """97 (due, created) pairs: 12-hour steps from 15 days before T0 to a month after it; one in
    ten without a due date."""
    pairs = []
    for j in range(97):
        due = T0 + timedelta(hours=12 * (j - 30))
        pairs.append((None if j % 10 == 9 else due, due - timedelta(days=5)))
    return pairs


def _fill(ctx, count: int, backend: str) -> dict:
    deploy_files(ctx, [LOOP_BPMN])
    started = services.start_instance(ctx, LOOP_PROCESS, "510781001001", {"visits": 0})
    with ctx.db.unit_of_work() as session:
        template = population.template_of(session, started.instance)
        instances = population.clone_instances(session, template, INSTANCES - 1, ["510781001001"])
        slot_rows = slots(session)
    with progress(f"收件箱（{backend}）：写入 {count} 个待办任务及授权", count) as bar:
        with ctx.db.unit_of_work() as session:      # a bulk load: one transaction
            population.insert_tasks(session, slot_rows, dues(), count,
                                    (started.instance, instances[1]), CLAIMED_EVERY, bar.update)
    settle(ctx, analyze=True)
    return {"slots": len(slot_rows), "instances": INSTANCES}


def _plan(ctx, username: str, grants) -> str:
    captured = []

    def listener(conn, cursor, statement, params, context, many):
        captured.append((statement, params))
    event.listen(ctx.db.engine, "before_cursor_execute", listener)
    try:
        with ctx.db.unit_of_work() as session:
            repo.inbox(session, username, grants)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", listener)
    statement, params = next((s, p) for s, p in reversed(captured) if "task_grants" in s)   # the page
    prefix = "EXPLAIN" if ctx.db.dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    with ctx.db.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"{prefix} {statement}", params)
        return "\n".join(str(row[-1]) for row in rows)


def measure(ctx, scale, backend: str) -> dict:
    used = {"open_tasks": scale.inbox_tasks, "users": list(USERS), "rounds": scale.inbox_rounds,
            "warmup_rounds": 1}
    used.update(_fill(ctx, scale.inbox_tasks, backend))
    grants, visible = {}, {}
    with ctx.db.unit_of_work() as session:
        for user in USERS:
            grants[user] = directory_repo.user_grants(session, user)
            visible[user] = repo.inbox_count(session, user, grants[user])

    def query_only(user):
        with ctx.db.unit_of_work() as session:
            return repo.inbox(session, user, grants[user])

    service, query, per_user = [], [], {user: [] for user in USERS}
    with progress(f"收件箱（{backend}）：{len(USERS)} 个用户 × {scale.inbox_rounds} 轮", scale.inbox_rounds + 1) as bar:
        for n in range(scale.inbox_rounds + 1):
            turn = USERS[n % len(USERS):] + USERS[:n % len(USERS)]
            for user in turn:
                seconds, rows = timed(lambda: services.tasks_for_user(ctx, user))
                plain, _ = timed(lambda: query_only(user))
                if n > 0:
                    service.append(seconds)
                    query.append(plain)
                    per_user[user].append(seconds)
            bar.update(1)
    value = round(p95(service) * 1000, 3)
    return results.measured(
        KEY, value, backend=backend, scale=used,
        timings={"tasks_for_user": summary_ms(service), "inbox_query_only": summary_ms(query),
                 "per_user_p95_ms": {u: round(p95(s) * 1000, 3) for u, s in per_user.items()},
                 "visible_tasks": visible,
                 "plan_teacher_wang": _plan(ctx, "teacher_wang", grants["teacher_wang"])})


def run(bench, scale) -> dict:
    by_backend = {}
    for backend in ("sqlite", "postgresql"):
        try:
            ctx = bench.sqlite("inbox") if backend == "sqlite" else bench.postgres("inbox")
        except Skipped as err:
            by_backend[backend] = results.skipped(KEY, str(err), backend=backend,
                                                  scale={"open_tasks": scale.inbox_tasks})
            note(f"收件箱（{backend}）跳过: {err}")
            continue
        by_backend[backend] = measure(ctx, scale, backend)
        ctx.db.dispose()
    return results.combined(KEY, by_backend)
