"""Several `carepath worker` processes at once never do one piece of work twice, and a worker
killed mid-job loses nothing: a real redis-server, real worker processes, the session's database
(SQLite, or PostgreSQL with CAREPATH_TEST_BACKEND=postgresql).

The pathway pair in `worker_relay.bpmn`: a `worker_sender` waits until 2026-11-03 09:00, throws
`worker_ping` to the `worker_receiver` with the same `pair`, and opens a follow-up for the family
doctors due at 10:00 the same day. A sweep at 12:00 therefore fires each sender's timer, delivers
its message, and raises the follow-up's level-1 escalation, which notifies both family doctors of
太平镇: doctor_a at once by group robot and email, doctor_b in the daily digest (both channels).

On PostgreSQL the sweeps claim rows with FOR UPDATE SKIP LOCKED and fan out; on SQLite the
instance's version check and conditional updates keep the work single (two workers there).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis
from rq import Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from engine.context import EngineContext
from engine.jobs import fanout
from engine.jobs.queues import SERIALIZER, connect, enqueue, queue
from engine.jobs.registry import NOTIFICATIONS, SWEEPS, periodic_job
from engine.pathways import deploy_files
from engine.runtime import services
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Escalation, Event, HumanTask, Instance, Message
from engine.store.notify import Delivery, DigestRun, Notification

from conftest import BACKEND, BPMN
from notify_servers import SmtpSink, WebhookReceiver
from servers import process_tree, redis_server, redis_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

STARTED = datetime.fromisoformat("2026-11-02T09:00:00+08:00")
DUE = datetime.fromisoformat("2026-11-03T12:00:00+08:00")   # timers due at 09:00, follow-ups at 10:00
VILLAGE = "510781001001"
PAIRS = 300
WORKERS = 3 if BACKEND == "postgresql" else 2
PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


# --- set-up ---------------------------------------------------------------------------------------

def load_doctors(cli, tmp_path, webhook_a: str, webhook_b: str) -> None:
    """Both family doctors of 太平镇 with their channels: doctor_a immediately, doctor_b daily."""
    path = tmp_path / "doctors.yaml"
    path.write_text(
        "users:\n"
        "  - {username: doctor_a, name: 周医生, email: zhou@example.cn,"
        f" webhook: '{webhook_a}', notify: {{webhook: immediate, email: immediate}},"
        " roles: [{role: health.family_doctor, org: '510781001'},"
        " {role: health.psychiatrist, org: '510781'}]}\n"
        "  - {username: doctor_b, name: 吴医生, password: pw-doctor-b, email: wu@example.cn,"
        f" webhook: '{webhook_b}', notify: {{webhook: digest, email: digest}},"
        " roles: [{role: health.family_doctor, org: '510781001'}]}\n", encoding="utf-8")
    cli.run("directory", "load", str(path))


def start_pairs(cli, pairs: int) -> dict[int, tuple[int, int]]:
    """{pair: (sender, receiver)}, started in-process on the test's database (a `carepath start`
    per instance would take minutes)."""
    ctx = EngineContext(Settings(database_url=cli.env["CAREPATH_DATABASE_URL"]), now=STARTED)
    try:
        deploy_files(ctx, [BPMN / "worker_relay.bpmn"])
        started = {}
        for pair in range(pairs):
            receiver = services.start_instance(ctx, "worker_receiver", VILLAGE, {"pair": pair}).instance
            sender = services.start_instance(ctx, "worker_sender", VILLAGE, {"pair": pair}).instance
            started[pair] = (sender, receiver)
        return started
    finally:
        ctx.db.dispose()


def worker_env(cli, redis_url: str, smtp: SmtpSink | None = None) -> dict:
    env = {key: value for key, value in cli.env.items() if key not in PROXIES}
    env["CAREPATH_REDIS_URL"] = redis_url
    if smtp is not None:
        env.update(CAREPATH_SMTP_HOST="127.0.0.1", CAREPATH_SMTP_PORT=str(smtp.port),
                   CAREPATH_SMTP_FROM="carepath@mh.example.cn")
    return env


def enqueue_jobs(redis_url: str, name: str, count: int, now: datetime = DUE, **arguments) -> list[str]:
    connection = connect(redis_url)
    job = periodic_job(Settings(), name)
    return [enqueue(connection, job, now, arguments=arguments or None).id for _ in range(count)]


# --- processes ------------------------------------------------------------------------------------

def process_group(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[2])


def kill_tree(process: subprocess.Popen) -> list[int]:
    """SIGKILL a worker we started and everything it started; the pids killed."""
    tree = process_tree(process.pid) if process.poll() is None else []
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)
    return tree


class Workers:
    """`carepath worker` processes started by a test; whatever is still running at the end is
    killed (only these processes, by pid)."""

    def __init__(self, cli, env: dict, tmp_path):
        self.cli, self.env, self.tmp_path = cli, env, tmp_path
        self.started: list[tuple[subprocess.Popen, object]] = []

    def start(self, *args: str) -> subprocess.Popen:
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        with open(log, "w") as out:
            process = subprocess.Popen([self.cli.exe, "worker", *args], env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((process, log))
        return process

    def log(self, process: subprocess.Popen) -> str:
        return next(log for p, log in self.started if p is process).read_text()

    def burst(self, count: int, *queues: str) -> None:
        """`count` burst workers on `queues` at once; all must drain the queues and exit 0."""
        args = ["--burst", *(a for q in queues for a in ("--queue", q))]
        processes = [self.start(*args) for _ in range(count)]
        for process in processes:
            assert process.wait(timeout=600) == 0, self.log(process)

    def close(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                kill_tree(process)


@contextmanager
def workers(cli, env: dict, tmp_path):
    pool = Workers(cli, env, tmp_path)
    try:
        yield pool
    finally:
        pool.close()


def wait_for(condition, what: str, timeout: float = 120.0, pause: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)


def settled(read, pause: float = 0.3):
    """What `read()` gives once two reads `pause` apart agree (a commit the killed process sent
    just before it died may still be landing)."""
    previous = read()
    while True:
        time.sleep(pause)
        current = read()
        if current == previous:
            return current
        previous = current


def results(redis_url: str, name: str) -> dict[str, dict]:
    """The reports of the finished jobs of a queue, by job id."""
    connection = Redis.from_url(redis_url)
    registry = FinishedJobRegistry(name, connection=connection, serializer=SERIALIZER)
    return {job_id: Job.fetch(job_id, connection=connection, serializer=SERIALIZER).return_value()
            for job_id in registry.get_job_ids()}


def fetch(redis_url: str, job_id: str) -> Job:
    return Job.fetch(job_id, connection=Redis.from_url(redis_url), serializer=SERIALIZER)


# --- what the database says ----------------------------------------------------------------------

@contextmanager
def database(cli):
    db = Database(cli.env["CAREPATH_DATABASE_URL"])
    try:
        with db.unit_of_work() as session:
            yield session
    finally:
        db.dispose()


def timers_fired(cli) -> Counter:
    """`timer_fired` events per instance."""
    with database(cli) as session:
        return Counter(dict(session.execute(
            select(Event.instance_id, func.count()).where(Event.kind == "timer_fired")
            .group_by(Event.instance_id)).all()))


def wait_for_fired(cli, worker, count: int) -> None:
    """Until the running `worker` has fired `count` timers, looking every few milliseconds through
    one engine (a new one per look would take longer than the sweep has left: the kill that
    follows must land mid-sweep)."""
    db = Database(cli.env["CAREPATH_DATABASE_URL"])
    query = select(func.count()).select_from(Event).where(Event.kind == "timer_fired")

    def fired() -> bool:
        with db.unit_of_work() as session:
            return session.scalar(query) >= count
    try:
        wait_for(lambda: worker.poll() is None and fired(), "the sweep to get going", pause=0.005)
    finally:
        db.dispose()


def due_instances(cli, now: datetime = DUE) -> list[int]:
    with database(cli) as session:
        return list(session.scalars(select(Instance.id).where(
            Instance.status == "running", Instance.wake_at <= now)))


def assert_everything_done_once(cli, started: dict[int, tuple[int, int]]) -> None:
    """Every timer fired once, every message delivered once to its pair, every escalation raised
    once, every notification created once per doctor; nothing is left due."""
    senders = {sender: pair for pair, (sender, _) in started.items()}
    receivers = {receiver: pair for pair, (_, receiver) in started.items()}
    assert timers_fired(cli) == Counter({sender: 1 for sender in senders})
    assert due_instances(cli) == []
    with database(cli) as session:
        delivered = [(e.instance_id, e.detail["message_id"]) for e in session.scalars(
            select(Event).where(Event.kind == "message_delivered"))]
        messages = session.execute(select(Message.id, Message.status, Message.sender_instance_id,
                                          Message.delivered_to)).all()
        statuses = dict(session.execute(select(Instance.id, Instance.status)).all())
        follow_ups = {t.id: t.instance_id for t in session.scalars(
            select(HumanTask).where(HumanTask.element == "follow_up"))}
        escalations = session.execute(select(Escalation.task_id, Escalation.level)).all()
        raised = Counter(e.task_id for e in session.scalars(
            select(Event).where(Event.kind == "escalation_raised")))
        notified = Counter(session.execute(select(Notification.username, Notification.dedupe_key)).all())
    assert len(messages) == len(started)
    assert all(status == "delivered" for _, status, _, _ in messages)
    assert {senders[sender]: receivers[to] for _, _, sender, to in messages} == {p: p for p in started}
    assert Counter(message_id for _, message_id in delivered) == Counter({m[0]: 1 for m in messages})
    assert Counter(instance for instance, _ in delivered) == Counter({r: 1 for r in receivers})
    assert all(statuses[receiver] == "completed" for receiver in receivers)
    assert sorted(follow_ups.values()) == sorted(senders)          # one follow-up per sender
    assert Counter(escalations) == Counter({(task, 1): 1 for task in follow_ups})
    assert raised == Counter({task: 1 for task in follow_ups})
    assert Counter(notified.values()) == Counter({1: 2 * len(follow_ups)})
    assert {key for _, key in notified} == {f"escalation:{task}:1" for task in follow_ups}


def deliveries(cli) -> list:
    with database(cli) as session:
        return session.execute(select(Delivery.id, Notification.username, Delivery.channel, Delivery.status,
                                      Delivery.attempts, Delivery.next_attempt_at)
                               .join(Notification, Notification.id == Delivery.notification_id)).all()


def assert_notifications_sent_once(cli, robot: WebhookReceiver, smtp: SmtpSink, pairs: int) -> None:
    """Each immediate delivery reached its receiver once and is recorded sent; doctor_b got one
    digest on each channel, listing every item."""
    rows = deliveries(cli)
    assert Counter((user, channel, status) for _, user, channel, status, _, _ in rows) == Counter({
        ("doctor_a", "webhook", "sent"): pairs, ("doctor_a", "email", "sent"): pairs,
        ("doctor_b", "webhook", "sent"): pairs, ("doctor_b", "email", "sent"): pairs})
    with database(cli) as session:
        runs = session.execute(select(DigestRun.username, DigestRun.channel, DigestRun.status,
                                      DigestRun.items)).all()
    assert sorted(runs) == [("doctor_b", "email", "sent", pairs), ("doctor_b", "webhook", "sent", pairs)]

    posts = Counter(request["path"] for request in robot.requests)
    assert posts == Counter({"/a": pairs, "/b": 1})
    task_links = [re.search(r"任务 #(\d+)", r["json"]["markdown"]["content"]).group(1)
                  for r in robot.requests if r["path"] == "/a"]
    assert len(set(task_links)) == pairs                     # one post per follow-up, none twice
    to_a = [m for m in smtp.messages if m["To"] == "zhou@example.cn"]
    to_b = [m for m in smtp.messages if m["To"] == "wu@example.cn"]
    assert len(to_a) == pairs and len({m["Message-ID"] for m in to_a}) == pairs
    email_ids = {f"<carepath-delivery-{d}@mh.example.cn>" for d, user, channel, *_ in rows
                 if (user, channel) == ("doctor_a", "email")}
    assert {m["Message-ID"] for m in to_a} == email_ids
    assert len(to_b) == 1 and f"共 {pairs} 条" in to_b[0].get_content()


def shared_by(reports: list[dict], key: str) -> Counter:
    """How much of `key` each worker did, from the job reports."""
    done = Counter()
    for report in reports:
        done[report["worker"]] += report[key]
    return +done


# --- the tests ------------------------------------------------------------------------------------

@pytest.fixture
def receivers(monkeypatch):
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    with WebhookReceiver() as robot, SmtpSink() as smtp:
        yield robot, smtp


def test_workers_at_once_do_everything_exactly_once(cli, redis_url, receivers, tmp_path):
    robot, smtp = receivers
    load_doctors(cli, tmp_path, robot.url("/a"), robot.url("/b"))
    started = start_pairs(cli, PAIRS)
    assert len(due_instances(cli)) == PAIRS
    env = worker_env(cli, redis_url, smtp)

    with workers(cli, env, tmp_path) as pool:
        # Sweeps: one more job than workers, all started together.
        sweeps = enqueue_jobs(redis_url, "sweep", WORKERS + 1)
        pool.burst(WORKERS, SWEEPS)
        # Then the outbox and the digests, again all workers at once.
        notify = enqueue_jobs(redis_url, "notify", WORKERS)
        digests = enqueue_jobs(redis_url, "digest", 2)
        pool.burst(WORKERS, NOTIFICATIONS)

    assert_everything_done_once(cli, started)
    assert_notifications_sent_once(cli, robot, smtp, PAIRS)

    sweep_reports = results(redis_url, SWEEPS)
    helpers = [h for report in sweep_reports.values() for h in report["helpers"]]
    assert sorted(sweep_reports) == sorted(sweeps + helpers)
    reports = list(sweep_reports.values())
    assert sum(r["timers_fired"] for r in reports) == PAIRS
    assert sum(r["messages_delivered"] for r in reports) == PAIRS
    assert sum(r["escalations_raised"] for r in reports) == PAIRS
    # The work was shared: more than one worker process fired timers.
    assert len(shared_by(reports, "timers_fired")) >= 2, reports
    if BACKEND == "postgresql":
        # Claimed rows: no two sweeps ever loaded the same instance, so no firing lost a race.
        assert sum(r["conflicts_retried"] for r in reports) == 0, reports
    notify_reports = results(redis_url, NOTIFICATIONS)
    assert sorted(notify_reports) == sorted(notify + digests)
    sent = [notify_reports[job_id] for job_id in notify]
    assert sum(r["sent"] for r in sent) == 2 * PAIRS
    assert sum(r["retry"] + r["failed"] for r in sent) == 0
    assert len(shared_by(sent, "sent")) >= 2, sent
    assert sum(notify_reports[job_id]["digests_sent"] for job_id in digests) == 2


def test_a_sweep_with_a_backlog_asks_the_idle_workers_for_help(cli, redis_url, tmp_path):
    started = start_pairs(cli, PAIRS)
    env = worker_env(cli, redis_url)
    connection = connect(redis_url)
    sweeps = queue(SWEEPS, connection)
    with workers(cli, env, tmp_path) as pool:
        for _ in range(3):
            pool.start("--queue", SWEEPS, "--without-scheduler")
        wait_for(lambda: [w.get_state() for w in Worker.all(queue=sweeps)] == ["idle"] * 3,
                 "three idle workers on the sweeps queue", timeout=60)
        [parent] = enqueue_jobs(redis_url, "sweep", 1, batch=50)
        wait_for(lambda: fetch(redis_url, parent).get_status() == "finished", "the parent sweep")
        report = fetch(redis_url, parent).return_value()
        helpers = report["helpers"]
        wait_for(lambda: all(fetch(redis_url, h).get_status() == "finished" for h in helpers),
                 "the helper sweeps")
        for process, _ in pool.started:
            process.send_signal(signal.SIGTERM)         # warm shutdown
        for process, _ in pool.started:
            assert process.wait(timeout=60) == 0, pool.log(process)
    # Helper ids derive from the parent's and are claimed once: a parent that runs again (an rq
    # retry) queues no helper twice, whoever asks.
    both = [f"{parent}-helper1", f"{parent}-helper2"]
    asked = fanout.enqueue_helpers(connection, parent, DUE.isoformat(), 2, 50, timeout=600)
    assert asked == [h for h in both if h not in helpers]
    assert fanout.enqueue_helpers(connection, parent, DUE.isoformat(), 2, 50, timeout=600) == []
    assert sweeps.job_ids == asked
    assert report["helper_of"] is None
    reports = [report] + [fetch(redis_url, h).return_value() for h in helpers]
    assert sum(r["timers_fired"] for r in reports) == PAIRS
    assert_everything_done_once_without_notifications(cli, started)
    if BACKEND == "postgresql":
        # 300 due, batches of 50, three workers: the two idle ones are asked, once each.
        assert helpers == [f"{parent}-helper1", f"{parent}-helper2"]
        assert all(r["helper_of"] == parent and r["helpers"] == [] for r in reports[1:])
        assert len({r["worker"] for r in reports}) == 3
        assert len(shared_by(reports, "timers_fired")) >= 2, reports
    else:
        # SQLite: one writer at a time and no row claims, so helpers would only collide.
        assert helpers == [] and report["timers_fired"] == PAIRS


def assert_everything_done_once_without_notifications(cli, started) -> None:
    senders = [sender for sender, _ in started.values()]
    assert timers_fired(cli) == Counter({sender: 1 for sender in senders})
    assert due_instances(cli) == []
    with database(cli) as session:
        assert session.scalar(select(func.count()).select_from(Message).where(
            Message.status != "delivered")) == 0
        raised = Counter(session.execute(select(Escalation.task_id, Escalation.level)).all())
    assert len(raised) == len(senders) and set(raised.values()) == {1}


def test_worker_and_horse_killed_mid_sweep_lose_and_double_nothing(cli, redis_url, receivers, tmp_path):
    robot, smtp = receivers
    load_doctors(cli, tmp_path, robot.url("/a"), robot.url("/b"))
    pairs = PAIRS
    started = start_pairs(cli, pairs)
    env = worker_env(cli, redis_url, smtp)
    with workers(cli, env, tmp_path) as pool:
        [killed_job] = enqueue_jobs(redis_url, "sweep", 1)
        worker = pool.start("--queue", SWEEPS, "--without-scheduler")
        wait_for_fired(cli, worker, 30)
        tree = kill_tree(worker)          # the worker, its work horse and rq's scheduler process
        assert len(tree) >= 2, "expected the worker and its work horse"
        fired_before = settled(lambda: timers_fired(cli))
        assert set(fired_before.values()) == {1} and 30 <= len(fired_before) < pairs, \
            f"the sweep was not cut off mid-way ({len(fired_before)}/{pairs}); raise `pairs`"
        # What the killed sweep committed is done: those instances are no longer due.
        assert not set(fired_before) & set(due_instances(cli))

        # rq still sees the job started, owned by a worker that no longer beats: the heartbeat
        # expires ~90 s later (test_rq_jobs shows the cleanup then). The next sweep does the rest.
        started_registry = StartedJobRegistry(SWEEPS, connection=connect(redis_url), serializer=SERIALIZER)
        assert fetch(redis_url, killed_job).get_status() == "started"
        assert killed_job in started_registry.get_job_ids()

        rerun = enqueue_jobs(redis_url, "sweep", WORKERS)
        pool.burst(WORKERS, SWEEPS)
        enqueue_jobs(redis_url, "notify", WORKERS)
        enqueue_jobs(redis_url, "digest", 1)
        pool.burst(WORKERS, NOTIFICATIONS)

    assert_everything_done_once(cli, started)
    assert_notifications_sent_once(cli, robot, smtp, pairs)
    rerun_reports = [fetch(redis_url, job_id).return_value() for job_id in rerun]
    assert sum(r["timers_fired"] for r in rerun_reports) == pairs - len(fired_before)


def test_a_killed_work_horse_fails_its_job_and_the_retry_finishes_the_sweep(cli, redis_url, tmp_path):
    """Only the work horse dies (say the OOM killer): the worker sees it at once, fails the job
    with a retry, and rq's scheduler in the same worker runs the retry 10 s later."""
    pairs = PAIRS
    started = start_pairs(cli, pairs)
    env = worker_env(cli, redis_url)
    with workers(cli, env, tmp_path) as pool:
        [job_id] = enqueue_jobs(redis_url, "sweep", 1)
        worker = pool.start("--queue", SWEEPS, "--without-scheduler")
        wait_for_fired(cli, worker, 30)
        horses = [pid for pid in process_tree(worker.pid)[1:] if process_group(pid) == pid]
        assert len(horses) == 1, "expected one work horse in a process group of its own"
        os.kill(horses[0], signal.SIGKILL)
        fired_before = len(settled(lambda: timers_fired(cli)))
        assert 30 <= fired_before < pairs, f"the sweep was not cut off mid-way ({fired_before}/{pairs})"

        wait_for(lambda: fetch(redis_url, job_id).retries_left == 2, "the job to fail with a retry", timeout=30)
        wait_for(lambda: fetch(redis_url, job_id).get_status() == "finished", "the retry to finish",
                 timeout=120)
        assert worker.poll() is None                      # the worker itself lived on
        log = pool.log(worker)
    assert "Work-horse terminated unexpectedly" in log, log
    assert fetch(redis_url, job_id).return_value()["timers_fired"] == pairs - fired_before
    assert_everything_done_once_without_notifications(cli, started)


class HangingRobot:
    """A group robot whose first request is held open (no answer) until `release`; the others
    are answered at once. Records every request's path and content."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                robot.requests.append((self.path, body["markdown"]["content"]))
                if len(robot.requests) == 1:
                    robot.first_arrived.set()
                    robot.release.wait(timeout=60)
                reply = b'{"errcode": 0, "errmsg": "ok"}'
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass                      # the sender was killed meanwhile

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "HangingRobot":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"


def test_a_delivery_whose_sender_died_is_sent_again_once_its_lease_runs_out(cli, redis_url, tmp_path,
                                                                             monkeypatch):
    """At least once: the worker dies after the robot got the post and before it was recorded.
    The delivery stays claimed (pending, its attempt counted, leased 10 minutes); a sweep at the
    same moment leaves it alone, a sweep after the lease sends it again, and then nothing is left
    unsent."""
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    pairs = 20
    with HangingRobot() as robot:
        load_doctors(cli, tmp_path, robot.url("/a"), robot.url("/b"))
        start_pairs(cli, pairs)
        env = worker_env(cli, redis_url)
        with workers(cli, env, tmp_path) as pool:
            enqueue_jobs(redis_url, "sweep", 1)
            pool.burst(1, SWEEPS)
            enqueue_jobs(redis_url, "notify", 1)
            worker = pool.start("--queue", NOTIFICATIONS, "--without-scheduler")
            assert robot.first_arrived.wait(timeout=60), pool.log(worker)
            kill_tree(worker)
            robot.release.set()
            first_path, first_content = robot.requests[0]
            [claimed] = [row for row in deliveries(cli) if row.attempts == 1]
            assert (claimed.username, claimed.channel, claimed.status) == ("doctor_a", "webhook", "pending")
            assert claimed.next_attempt_at == DUE + timedelta(minutes=10)      # the claim's lease

            enqueue_jobs(redis_url, "notify", 1)                          # same moment: lease holds
            pool.burst(1, NOTIFICATIONS)
            held = {row.id: row for row in deliveries(cli)}
            assert held[claimed.id].status == "pending" and held[claimed.id].attempts == 1
            assert Counter(row.status for row in held.values() if row.channel == "webhook"
                           and row.username == "doctor_a") == Counter({"sent": pairs - 1, "pending": 1})
            assert [content for _, content in robot.requests].count(first_content) == 1

            enqueue_jobs(redis_url, "notify", 1, now=DUE + timedelta(minutes=10))   # lease over
            pool.burst(1, NOTIFICATIONS)
    after = {row.id: row for row in deliveries(cli)}
    assert after[claimed.id].status == "sent" and after[claimed.id].attempts == 2
    assert all(row.status == "sent" for row in after.values() if row.username == "doctor_a"
               and row.channel == "webhook")
    contents = Counter(content for path, content in robot.requests if path == "/a")
    # The one delivery whose record was lost reached the robot twice; every other one once.
    assert contents[first_content] == 2 and first_path == "/a"
    assert sorted(contents.values()) == [1] * (pairs - 1) + [2]


def test_helpers_needed():
    one_idle = fanout.Workers(total=3, idle_others=1)
    all_idle = fanout.Workers(total=3, idle_others=2)
    assert fanout.helpers_needed(200, 200, all_idle) == 0               # one batch: no help
    assert fanout.helpers_needed(201, 200, all_idle) == 1               # two batches: one helper
    assert fanout.helpers_needed(5000, 200, all_idle) == 2              # never more than workers − 1
    assert fanout.helpers_needed(5000, 200, one_idle) == 1              # only idle workers are asked
    assert fanout.helpers_needed(5000, 200, fanout.Workers(total=1, idle_others=0)) == 0

