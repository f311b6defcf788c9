"""Background jobs on rq/Redis: periodic sweeps and notifications, run by `carepath worker`.

Without CAREPATH_REDIS_URL the engine sweeps in-process (`engine.runtime.scheduler`, `carepath
run`). With it, the same work runs as rq jobs:

- `registry`  the periodic jobs, declared as data (id, function, queue, period, retries);
- `tasks`     the job functions: build the engine from the environment, call it at `now_iso`;
- `queues`    the Redis connection and how a job is enqueued (JSON serializer, TTLs, retries);
- `periodic`  the periodic enqueuer: one job per period, de-duplicated with a Redis claim;
- `worker`    the rq worker with the periodic enqueuer in a thread;
- `commands`  `carepath worker` and `carepath enqueue`.

Queues are named by purpose: `sweeps` (timers and messages) and `notifications` (notices and the
daily digest).

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
`carepath enqueue sweep`) completes it without repeating anything. The periodic enqueuer does not
wait for earlier jobs; each period's job is enqueued regardless of how the previous one ended.

rq finds the orphaned job by its heartbeat: the job stays "started" in the queue's
StartedJobRegistry until its execution's heartbeat expires (about 90 s after the last beat).
The next registry maintenance by any worker (at start-up and every 10 minutes) then runs
`StartedJobRegistry.cleanup`: a job with retries left is retried (scheduled after its next
interval), otherwise it is moved to the FailedJobRegistry as an AbandonedJobError. If only the
work horse dies (say the OOM killer), the worker sees it at once and handles the job as failed,
with retries. Either way the retried run is an ordinary idempotent sweep.
"""
