"""start_ratio_vs_spiff: what CarePath's start costs next to SpiffWorkflow alone."""
from __future__ import annotations

import time
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
    "不碰数据库。“仅语句”：把 CarePath 一次启动所发出的 SQL 语句（同样的参数，任务的 spiff_task_id "
    "换新）在一个事务里经 SQLAlchemy Core 重放并提交，不含任何 Python 工作。"
    "由此给出本技术栈下的上限：原生 ÷ (仅内存 + 仅语句)，即路由、期限与其余 Python 不花时间时的值。"
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

    in_driver = _DriverTime(ctx.db.engine)

    workflow, text = raw()
    raw_first = sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))
    carepath()      # the caches a first start fills (specs, calendar) stay out of what is replayed
    statements, outcome = _statements_of(ctx.db.engine, carepath)
    ours_first = sorted(t["element"] for t in outcome.tasks)
    if raw_first != ours_first:
        return results.failed(KEY, f"两侧停在不同的任务: 原生 {raw_first}，CarePath {ours_first}",
                              backend="sqlite", scale=used)
    replay, in_memory = _replay(ctx, statements), _in_memory_side(ctx)
    raw_times, ours_times, memory_times, replay_times, driver_times = [], [], [], [], []
    sides = [(raw, raw_times), (carepath, ours_times), (in_memory, memory_times), (replay, replay_times)]
    with progress("启动：原生 SpiffWorkflow、CarePath、仅内存与仅语句交替计时",
                  scale.start_warmup + scale.start_runs) as bar:
        for n in range(scale.start_warmup + scale.start_runs):
            turn = n % len(sides)
            for work, samples in sides[turn:] + sides[:turn]:       # each side first in turn
                in_driver.total = 0.0
                seconds, _ = timed(work)
                if n >= scale.start_warmup:
                    samples.append(seconds)
                    if work is carepath:
                        driver_times.append(in_driver.total)
            bar.update(1)
    value = ratio(median(raw_times), median(ours_times))
    return results.measured(
        KEY, value, backend="sqlite", scale=used,
        timings={"raw_spiff": summary_ms(raw_times), "carepath": summary_ms(ours_times),
                 "in_memory": summary_ms(memory_times),
                 "statements_only": summary_ms(replay_times), "statement_count": len(statements),
                 "ceiling_on_this_stack": ratio(median(raw_times),
                                                median(memory_times) + median(replay_times)),
                 "carepath_in_sqlite_driver": summary_ms(driver_times),
                 "first_task": ours_first, "raw_json_bytes": len(text.encode())},
        notes=["原生一侧不路由、不算期限、不写数据库；其 JSON 含整个流程定义（SpiffWorkflow 默认序列化）",
               "in_memory：CarePath 自己的 SpiffWorkflow 工作与状态序列化，不碰数据库；"
               "statements_only：同一次启动的语句在一个事务里重放并提交（SQLAlchemy Core，预编译语句）；"
               "ceiling_on_this_stack = 原生 ÷ (仅内存 + 仅语句)：路由、期限与其余 Python 不花时间时的值",
               "carepath_in_sqlite_driver：每次启动花在 SQLite 驱动执行语句上的时间（不含提交）；"
               "其余是 Python：SpiffWorkflow 本身、路由与期限、SQLAlchemy"])


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
    """The statements one start sends (each with its parameters), and the start's outcome."""
    sent = []

    def capture(_connection, statement, multiparams, params, _options):
        sent.append((statement, list(multiparams) if multiparams else params))
    event.listen(engine, "before_execute", capture)
    try:
        outcome = start()
    finally:
        event.remove(engine, "before_execute", capture)
    return sent, outcome


def _replay(ctx, statements):
    """Those statements again in one unit of work, committed: the database's part of a start with
    no CarePath Python around it. A task's `spiff_task_id` is unique, so each replay takes a new
    one; every other row refers to the captured start's instance and task, which exist."""
    def run():
        with ctx.db.unit_of_work() as session:
            connection = session.connection()
            for statement, params in statements:
                if isinstance(params, dict) and "spiff_task_id" in params:
                    params = {**params, "spiff_task_id": str(uuid.uuid4())}
                connection.execute(statement, params)
    return run


class _DriverTime:
    """Seconds spent inside the database driver executing statements, summed into `total`."""

    def __init__(self, engine):
        self.total = 0.0
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args):
        self._started = time.perf_counter()

    def _after(self, *_args):
        self.total += time.perf_counter() - self._started
