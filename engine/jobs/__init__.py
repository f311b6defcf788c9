"""Background jobs on rq/Redis: periodic sweeps and notifications, run by `carepath worker`.

Without CAREPATH_REDIS_URL the engine sweeps in-process (`engine.runtime.scheduler`, `carepath
run`). With it, the same work runs as rq jobs:

- `registry`  the periodic jobs, declared as data (id, function, queue, period, retries);
- `tasks`     the job functions: build the engine from the environment, call it at `now_iso`;
- `queues`    the Redis connection and how a job is enqueued (JSON serializer, TTLs, retries);
- `periodic`  the periodic enqueuer: one job per period, de-duplicated with a Redis claim;
- `fanout`    a sweep that finds a backlog enqueues helper sweeps for the idle workers;
- `worker`    the rq worker with the periodic enqueuer in a thread;
- `commands`  `carepath worker` and `carepath enqueue`.

Queues are named by purpose: `sweeps` (timers, messages and escalations) and `notifications`
(notices and the daily digest). Every job reports which worker, process and job did its work.

Many workers at once
--------------------
Any number of workers may serve the same queues, and any number of jobs may run at once: each
piece of work is claimed by one of them. A sweep fires each due instance in a transaction that
claims it (PostgreSQL: FOR UPDATE SKIP LOCKED, so sweeps split the due instances), delivers each
message and raises each escalation step the same way, and sends each notification after claiming
it with a lease (at least once: see `engine.notify.outbox`). On SQLite, which has no row locks,
the instance's version column, conditional updates and unique keys make the slower of two sweeps
roll back instead. A sweep that sees more than one batch of due instances (200) first enqueues
helper sweeps, one for each idle worker of the `sweeps` queue but never more than the workers
minus one, with ids derived from its own, so the workers drain a backlog together
(`engine.jobs.fanout`; not on SQLite, where helpers would only collide).

When a job fails
----------------
The exception ends the run. A job with retries left (`sweep`: 3 retries after 10 s, 60 s and
300 s; `digest`: after 60 s, 300 s and 900 s) is put in the queue's ScheduledJobRegistry, and rq's
scheduler, which every `carepath worker` runs, enqueues it again when the interval has passed; the
traceback of such an attempt is only in the worker's log. A job without retries left lands in the
queue's FailedJobRegistry with its traceback (`Job.fetch(id, serializer=SERIALIZER)
.latest_result().exc_string`), kept 30 days; `rq requeue --queue sweeps --all --serializer
rq.serializers.JSONSerializer` runs them again. Every job is idempotent, so running one again is
always safe.

When a worker dies mid-job
--------------------------
The engine commits each instance's timer firing in its own transaction, so what a killed sweep
committed stays done and what it did not is still due: the next sweep (the next period's job, or
`carepath enqueue sweep`) completes it without repeating anything. Its database connection dies
with it, so PostgreSQL rolls back its open transaction and releases its row claims at once; no
other sweep waits for the dead one. The periodic enqueuer does not wait for earlier jobs; each
period's job is enqueued regardless of how the previous one ended.

A notification job killed between sending and recording leaves that one delivery claimed: it is
due again when its lease (10 minutes) runs out and is then sent again, so its recipient may get it
twice; nothing is left unsent (`engine.notify.outbox`).

rq finds the orphaned job by its heartbeat: the job stays "started" in the queue's
StartedJobRegistry until its execution's heartbeat expires, about 90 s after the last beat (rq
3.0 sets each beat's TTL to min(job timeout, 30 s monitoring interval) + 60 s, so it is never
under a minute).
The next registry maintenance by any worker (at start-up and every 10 minutes) then runs
`StartedJobRegistry.cleanup`: a job with retries left is retried (scheduled after its next
interval), otherwise it is moved to the FailedJobRegistry as an AbandonedJobError. If only the
work horse dies (say the OOM killer), the worker sees it at once and handles the job as failed,
with retries. Either way the retried run is an ordinary idempotent sweep.
"""
