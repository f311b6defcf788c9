"""`carepath bench`: performance figures of the engine, each a ratio measured within one run.

Performance is measured here and never asserted in timed tests (timings on a shared machine are
noise). `carepath bench [--quick] [--json] [--out DIR] [--only a,b]` writes `results.json` and
`results.md` to DIR (default `bench/`). Every run records its date, mode, the machine (CPU count,
Python, SQLite, PostgreSQL and SpiffWorkflow versions, load average), the scale each figure
actually used, the raw timings behind each value, the goal and whether it was met. A figure that
cannot be measured here (no PostgreSQL or Redis) is reported as skipped with the reason; one
where the engine fails while being measured is reported as failed with the error.

The rules every figure follows: warm up first, interleave the two sides of a ratio (A, B, B, A…)
so drift and other load hit both, take medians (p95 for the inbox) of many repetitions, one
process, one database per comparison of sizes. The engine clock is fixed (Monday 2026-11-02 09:00
Shanghai, `workbench.T0`); wall-clock time is measured with `time.perf_counter`.

The figures (method in detail: each module's `METHOD`, printed in results.md):

start_ratio_vs_spiff (`start.py`, goal ≥ 0.5)
    pathways/school_screening.bpmn started with `services.start_instance` (to the first user task,
    committed to SQLite) against raw SpiffWorkflow on the same file (parsed once outside the
    timing; per run `BpmnWorkflow`, `do_engine_steps()`, SpiffWorkflow's own serializer with the
    Camunda config, in memory). Value = raw median time / CarePath median time.

complete_latency_ratio_200_vs_10 (`complete.py`, goal ≤ 1.3)
    The bench pathway (`followup_loop.bpmn`: a user task with a working-day deadline and a
    boundary timer, looped by an exclusive gateway). One instance completed 195 times, a second
    one 5 times, then both completed alternately: median of completions 196–200 / median of
    completions 6–10.

sweep_ratio_100k_vs_1k (`sweep.py`, goal ≤ 1.5)
    100k bench-pathway instances cloned in SQL from a real one, each waiting on a far timer with
    an open task; 100 random ones made due; `services.tick` timed. The 1k phase keeps 1 in 100
    active (the rest completed, as history); phases alternate. Value = median(100k) / median(1k).

inbox_p95_ms (`inbox.py`, goal ≤ 20 ms, SQLite and PostgreSQL)
    1M open tasks with grants spread like the library's own user tasks over the demo region;
    p95 of `services.tasks_for_user` for 8 demo users. The value is the worse backend's.

bytes_per_instance (`footprint.py`, goal ≤ 8 KB)
    len(state) + len(variables JSON) of running instances: each library pathway at its first
    wait, the demo cohort's instances after some steps, the loop instance after 200 completions.
    Value = mean; max and groups beside it.

worker_scaling_2_vs_1 (`workers.py`, goal ≥ 1.7, PostgreSQL + Redis)
    A backlog of due timers drained by 1 and by 2 real `carepath worker --burst` processes (one
    sweep job enqueued per worker). Value = throughput(2) / throughput(1), throughput = timers
    fired / (last job end − first job start).

Modules: `cli` (the command), `run` (the order of figures, the machine record), `workbench`
(scratch databases and servers), `population` and `backlog` (bulk data), `scales` (full, quick,
tiny), `measure` (timing, medians, p95), `results` (goals, records), `report` (JSON, Markdown),
`progress` (stderr progress).
"""
