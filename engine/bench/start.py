"""start_ratio_vs_spiff: what CarePath's start costs next to SpiffWorkflow alone."""
from __future__ import annotations

import uuid

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.util.task import TaskState

from sqlalchemy import event

from ..pathways import deploy_files, latest_version_or_fail, load_specs
from ..runtime import instances, services
from ..runtime.routing import Directory
from ..store.models import Instance
from . import results
from .measure import median, ratio, summary_ms, timed
from .progress import progress
from .workbench import library_dir

KEY = "start_ratio_vs_spiff"
PROCESS = "school_screening"
VILLAGE = "510781001001"        # 太平村

METHOD = (
    "同一条路径 pathways/school_screening.bpmn。CarePath 一侧：部署到带演示区域的 SQLite 文件，"
    "每次调用 `services.start_instance(ctx, 'school_screening', 太平村, {})`（启动数据为空：第一个任务"
    "不需要数据，两侧相同），从启动到第一个用户任务（班主任筛查）路由、计算期限、写入任务行、事件与审计并提交。原生一侧：同一文件用 SpiffWorkflow 的 "
    "CamundaParser 解析一次（不计时），每次 `BpmnWorkflow(spec, subprocess_specs)`、`do_engine_steps()`，"
    "再用 SpiffWorkflow 自带的 BpmnWorkflowSerializer（Camunda 配置）序列化为 JSON，全在内存中。"
    "先做预热，然后两侧交替（每轮交换先后）各计时若干次，取中位数；"
    "数值 = 原生中位数 ÷ CarePath 中位数（越接近 1 越好，目标 ≥ 0.5，即 CarePath 至多慢一倍）。"
    "同一轮里还交替计时 CarePath 启动的两个组成部分。“仅内存”：CarePath 自己的 SpiffWorkflow 工作"
    "（已部署的流程定义、太平村的脚本引擎、引擎步进、与 write_state 相同的变量提取、压缩与序列化），"
    "不碰数据库。“仅语句”：SQLite 收到的 CarePath 一次启动的语句（由 SQLite 自己的跟踪回调记下，"
    "值已代入，任务的 spiff_task_id 换新），直接经 sqlite3 驱动在一个事务里重放并提交，"
    "不经 SQLAlchemy，不含任何 Python 工作。"
    "由此给出本技术栈下的上限：原生 ÷ (仅内存 + 仅语句)，即路由、期限、SQLAlchemy 会话与其余 Python "
    "都不花时间时的值。"
)


def _raw_side(path):
    parser = CamundaParser()
    parser.add_bpmn_file(str(path))
    spec = parser.get_spec(PROCESS)
    subprocess_specs = parser.get_subprocess_specs(PROCESS)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))

    def run():
        workflow = BpmnWorkflow(spec, subprocess_specs)
        workflow.do_engine_steps()
        text = serializer.serialize_json(workflow)
        return workflow, text
    return run


def run(bench, scale) -> dict:
    used = {"pathway": PROCESS, "org": VILLAGE, "warmup_rounds": scale.start_warmup,
            "timed_rounds": scale.start_runs}
    ctx = bench.sqlite("start")
    path = library_dir() / f"{PROCESS}.bpmn"
    deploy_files(ctx, [path])
    raw = _raw_side(path)

    def carepath():
        return services.start_instance(ctx, PROCESS, VILLAGE, {})

    workflow, text = raw()
    raw_first = sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))
    carepath()      # the caches a first start fills (specs, calendar) stay out of what is replayed
    statements, outcome = _statements_of(ctx.db.engine, carepath)
    with ctx.db.engine.connect() as connection:
        spiff_task_id = connection.exec_driver_sql("SELECT spiff_task_id FROM human_tasks WHERE id = ?",
                                                   (outcome.tasks[0]["id"],)).scalar_one()
    ours_first = sorted(t["element"] for t in outcome.tasks)
    if raw_first != ours_first:
        return results.failed(KEY, f"两侧停在不同的任务: 原生 {raw_first}，CarePath {ours_first}",
                              backend="sqlite", scale=used)
    replay, in_memory = _replay(ctx, statements, spiff_task_id), _in_memory_side(ctx)
    raw_times, ours_times, memory_times, replay_times = [], [], [], []
    sides = [(raw, raw_times), (carepath, ours_times), (in_memory, memory_times), (replay, replay_times)]
    with progress("启动：原生 SpiffWorkflow、CarePath、仅内存与仅语句交替计时",
                  scale.start_warmup + scale.start_runs) as bar:
        for n in range(scale.start_warmup + scale.start_runs):
            turn = n % len(sides)
            for work, samples in sides[turn:] + sides[:turn]:       # each side first in turn
                seconds, _ = timed(work)
                if n >= scale.start_warmup:
                    samples.append(seconds)
            bar.update(1)
    replay.close()
    value = ratio(median(raw_times), median(ours_times))
    return results.measured(
        KEY, value, backend="sqlite", scale=used,
        timings={"raw_spiff": summary_ms(raw_times), "carepath": summary_ms(ours_times),
                 "in_memory": summary_ms(memory_times),
                 "statements_only": summary_ms(replay_times), "statement_count": _count(statements),
                 "driver_executions": len(statements),
                 "ceiling_on_this_stack": ratio(median(raw_times),
                                                median(memory_times) + median(replay_times)),
                 "first_task": ours_first, "raw_json_bytes": len(text.encode())},
        notes=["原生一侧不路由、不算期限、不写数据库；其 JSON 含整个流程定义（SpiffWorkflow 默认序列化）",
               "in_memory：CarePath 自己的 SpiffWorkflow 工作与状态序列化，不碰数据库；"
               "statements_only：SQLite 收到的同一次启动的语句，经 sqlite3 驱动在一个事务里重放并提交"
               "（statement_count 条语句，executemany 的每一行算一次执行，共 driver_executions 次）；"
               "ceiling_on_this_stack = 原生 ÷ (仅内存 + 仅语句)：路由、期限、SQLAlchemy 会话与其余 Python "
               "不花时间时的值"])


def _in_memory_side(ctx):
    """CarePath's own SpiffWorkflow work for one start, without the database: the deployed spec,
    the village's script engine, engine steps, and the state made as `write_state` makes it
    (variables, compaction, serialization)."""
    with ctx.db.unit_of_work() as session:
        version = latest_version_or_fail(session, PROCESS)
        spec, subprocess_specs = load_specs(ctx, session, version.id)
        org_path = Directory.of(session).unit(VILLAGE).path

    def run():
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=ctx.script_engine(org_path))
        instances.advance(workflow)
        instances.write_state(ctx, Instance(), workflow)
    return run


def _statements_of(engine, start):
    """The statements SQLite receives during one start, values in place (its own trace callback,
    so those CarePath sends through the driver are there too; BEGIN and COMMIT left out), and
    the start's outcome."""
    sent = []

    def on_checkout(dbapi_connection, _record, _proxy):
        dbapi_connection.set_trace_callback(sent.append)
        traced.append(dbapi_connection)
    traced = []
    event.listen(engine, "checkout", on_checkout)
    try:
        outcome = start()
    finally:
        event.remove(engine, "checkout", on_checkout)
        for dbapi_connection in traced:
            dbapi_connection.set_trace_callback(None)
    return [sql for sql in sent if sql.split()[0].upper() not in ("BEGIN", "COMMIT")], outcome


def _count(statements) -> int:
    """Statements, a run of executions of one INSERT (an executemany) counted once."""
    heads = [" ".join(sql.split()[:3]) for sql in statements]
    return sum(1 for n, head in enumerate(heads) if n == 0 or head != heads[n - 1])


def _replay(ctx, statements, spiff_task_id: str):
    """Those statements again on one sqlite3 connection, in one transaction, committed: the
    database's part of a start with no CarePath Python and no SQLAlchemy around it. A task's
    `spiff_task_id` is unique, so each replay takes a new one; every other row refers to the
    captured start's instance and task, which exist."""
    connection = ctx.db.engine.raw_connection()

    def run():
        fresh = str(uuid.uuid4())
        cursor = connection.cursor()
        for sql in statements:
            cursor.execute(sql.replace(spiff_task_id, fresh))
        cursor.close()
        connection.commit()
    run.close = connection.close      # back to the pool once the timing is done
    return run
