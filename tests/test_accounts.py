"""Accounts through the real app and the real `carepath` command: argon2 hashes renewed at
sign-in, sessions bound to the password and to `session_hours` on the engine clock, the
password change with its policy (a wrong current password counts as a failed sign-in), users
disabled and enabled (never deleted) with the tasks they held given back to their candidates."""
from __future__ import annotations

import contextvars
import re
import subprocess
from datetime import datetime

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from engine import accounts
from engine.directory import load_directory, needs_rehash, verify_password
from engine.runtime import services
from engine.store import directory as directory_repo
from engine.store.audit import AuditEvent
from engine.store.models import Event, Membership, User

from conftest import BPMN, DATA, ROOT, SHANGHAI, Cli
from web import MovableClock, WebClient, text_of

PASSWORD = "carepath-demo"
NEW_PASSWORD = "Jiangyou-river-2026"


def nov2(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def site(region):
    from webui import create_app
    clock = MovableClock(nov2(10))
    return create_app(region, now=clock.now), clock, region


def signed_in(app, username: str, password: str = PASSWORD) -> WebClient:
    client = WebClient(app)
    response = client.login(username, password)
    assert response.status_code == 302, text_of(response)
    return client


def stored_hash(ctx, username: str) -> str:
    with ctx.db.unit_of_work() as session:
        return directory_repo.get_user(session, username).password_hash


def audit_rows(ctx, action: str) -> list[AuditEvent]:
    with ctx.db.unit_of_work() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        session.expunge_all()
        return rows


def with_stdin(cli: Cli, text: str, *args: str) -> subprocess.CompletedProcess:
    """The real `carepath` command with `text` on its standard input."""
    return subprocess.run([cli.exe, *args], input=text, capture_output=True, text=True, env=cli.env, timeout=120)


def change(client: WebClient, current: str, new: str, confirm: str | None = None):
    client.get("/account/password")
    return client.post("/account/password", {"current": current, "new": new,
                                             "confirm": new if confirm is None else confirm})


# --- hashes and sessions -----------------------------------------------------------------------------

def test_a_hash_made_with_older_parameters_is_renewed_at_sign_in(site):
    app, _, ctx = site
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with ctx.db.unit_of_work() as session:
        directory_repo.set_password_hash(session, directory_repo.get_user(session, "teacher_wang"), weak)
    assert needs_rehash(weak)
    teacher = signed_in(app, "teacher_wang")
    renewed = stored_hash(ctx, "teacher_wang")
    assert renewed != weak and not needs_rehash(renewed) and verify_password(renewed, PASSWORD)
    assert teacher.get("/tasks").status_code == 200       # the session carries the new hash's stamp
    signed_in(app, "teacher_wang")
    assert stored_hash(ctx, "teacher_wang") == renewed    # current parameters: left alone
    assert not needs_rehash(stored_hash(ctx, "expert_chen"))


def test_a_session_lasts_session_hours_from_sign_in_on_the_engine_clock(site):
    app, clock, _ = site
    teacher = signed_in(app, "teacher_wang")
    clock.set(nov2(17, 59))
    assert teacher.get("/tasks").status_code == 200
    clock.set(nov2(18, 0))                                # 8 hours after signing in at 10:00
    ended = teacher.get("/tasks")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert teacher.get("/tasks").status_code == 302       # the session was emptied, not just refused once
    assert signed_in(app, "teacher_wang").get("/tasks").status_code == 200


def test_sign_out_is_audited_and_ends_the_session(site):
    app, _, ctx = site
    teacher = signed_in(app, "teacher_wang")
    assert teacher.post("/logout").status_code == 302
    assert teacher.get("/tasks").status_code == 302
    [logout] = audit_rows(ctx, "logout")
    assert (logout.actor, logout.origin) == ("teacher_wang", "web 127.0.0.1")
    assert [row.actor for row in audit_rows(ctx, "login")] == ["teacher_wang"]


# --- changing one's password -------------------------------------------------------------------------

def test_changing_the_password_keeps_this_session_and_ends_every_other_one(site):
    app, _, ctx = site
    here, elsewhere = signed_in(app, "teacher_wang"), signed_in(app, "teacher_wang")
    page = here.get("/account/password")
    assert page.status_code == 200 and "修改密码" in text_of(page)
    assert 'href="/account/password"' in here.get("/tasks").get_data(as_text=True)   # the name in the header
    done = change(here, PASSWORD, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/account/password"
    assert "密码已修改" in text_of(here.get("/account/password"))
    assert here.get("/tasks").status_code == 200
    assert elsewhere.get("/tasks").status_code == 302
    assert WebClient(app).login("teacher_wang", PASSWORD).status_code == 401
    assert signed_in(app, "teacher_wang", NEW_PASSWORD).get("/tasks").status_code == 200
    [changed] = audit_rows(ctx, "password_changed")
    assert (changed.actor, changed.target, changed.origin) == ("teacher_wang", "user:teacher_wang", "web 127.0.0.1")
    assert NEW_PASSWORD not in str(changed.detail)


POLICY_CASES = [
    # current, new, confirm, field, message
    ("", NEW_PASSWORD, NEW_PASSWORD, "current", "请输入当前密码。"),
    (PASSWORD, "", "", "new", "请输入新密码。"),
    (PASSWORD, "Short-1", "Short-1", "new", "新密码至少需要 10 个字符。"),
    (PASSWORD, "my-teacher_wang-pw", "my-teacher_wang-pw", "new", "新密码不能包含用户名。"),
    (PASSWORD, "MY-TEACHER_WANG-PW", "MY-TEACHER_WANG-PW", "new", "新密码不能包含用户名。"),
    (PASSWORD, "zzzzzzzzzzzz", "zzzzzzzzzzzz", "new", "新密码不能由同一个字符重复组成。"),
    (PASSWORD, "1234567890", "1234567890", "new", "这个密码太常见，容易被猜中，请换一个。"),
    (PASSWORD, "Password123", "Password123", "new", "这个密码太常见，容易被猜中，请换一个。"),
    (PASSWORD, PASSWORD, PASSWORD, "new", "新密码不能与当前密码相同。"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "confirm", "两次输入的新密码不一致。"),
    ("not-my-password", NEW_PASSWORD, NEW_PASSWORD, "current", "当前密码不正确。"),
]


def field_messages(response) -> dict[str, list[str]]:
    """The messages shown under each field of the form, by field name."""
    html = response.get_data(as_text=True)
    form = html.split("<main>", 1)[1].split("<form", 1)[1].split("</form>", 1)[0]
    blocks = re.split(r'(?=data-field=")', form)[1:]
    return {re.match(r'data-field="(\w+)"', block).group(1): re.findall(r"<div>(.*?)</div>", block)
            for block in blocks}


def test_the_password_policy_names_each_problem_under_its_field(site):
    app, _, ctx = site
    teacher = signed_in(app, "teacher_wang")
    before = stored_hash(ctx, "teacher_wang")
    for current, new, confirm, field, message in POLICY_CASES:
        refused = change(teacher, current, new, confirm)
        assert refused.status_code == 400, (new, refused.status_code)
        shown = field_messages(refused)
        assert message in shown.get(field, []), (new, shown)
        assert 'aria-invalid="true" aria-describedby="%s-problems"' % field in refused.get_data(as_text=True)
    assert stored_hash(ctx, "teacher_wang") == before and audit_rows(ctx, "password_changed") == []
    assert teacher.get("/tasks").status_code == 200
    both = field_messages(change(teacher, PASSWORD, "aaaa", "bbbb"))
    assert both == {"new": ["新密码至少需要 10 个字符。", "新密码不能由同一个字符重复组成。"],
                    "confirm": ["两次输入的新密码不一致。"]}


def test_every_problem_with_a_new_password_is_named_at_once():
    assert accounts.password_problems("aaaa", "aa") == ["too_short", "contains_username", "one_character"]
    assert accounts.password_problems("Carepath-Demo", "teacher_wang") == ["common"]
    assert accounts.password_problems("两江口的柳树发了新芽啊", "teacher_wang") == []   # ten characters
    assert accounts.password_problems(NEW_PASSWORD, "teacher_wang") == []


def test_a_wrong_current_password_counts_as_a_failed_sign_in(site):
    app, clock, ctx = site
    teacher = signed_in(app, "teacher_wang")
    statuses = []
    for minute in range(5):
        clock.set(nov2(10, minute + 1))
        statuses.append(change(teacher, "guess-%d" % minute, NEW_PASSWORD))
    assert [r.status_code for r in statuses] == [400] * 4 + [429]
    assert "登录失败次数过多，请于 10:20 后再试" in text_of(statuses[-1])
    assert [row.detail.get("via") for row in audit_rows(ctx, "login_failed")] == ["password_change"] * 5
    assert WebClient(app).login("teacher_wang", PASSWORD).status_code == 429      # the name is locked
    refused = change(teacher, PASSWORD, NEW_PASSWORD)                              # even the right one
    assert refused.status_code == 429 and verify_password(stored_hash(ctx, "teacher_wang"), PASSWORD)
    assert teacher.get("/tasks").status_code == 200                                # still signed in


# --- disabled, never deleted -------------------------------------------------------------------------

def test_a_disabled_users_session_ends_at_their_next_request(site):
    app, clock, ctx = site
    teacher = signed_in(app, "teacher_wang")
    assert teacher.get("/tasks").status_code == 200
    cli = Cli(ctx.settings.database_url)                  # the app's database
    out = cli.json("user", "disable", "teacher_wang", "--reason", "调离太平镇", "--now", "2026-11-02T10:05:00+08:00")
    assert (out["username"], out["active"], out["changed"]) == ("teacher_wang", False, True)
    ended = teacher.get("/tasks")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    refused = WebClient(app).login("teacher_wang", PASSWORD)
    assert refused.status_code == 401 and "用户名或密码错误" in text_of(refused)
    cli.json("user", "enable", "teacher_wang", "--now", "2026-11-02T10:10:00+08:00")
    assert signed_in(app, "teacher_wang").get("/tasks").status_code == 200
    [disabled] = audit_rows(ctx, "user_disabled")
    assert (disabled.target, disabled.origin, disabled.detail["reason"]) == ("user:teacher_wang", "cli", "调离太平镇")
    assert [row.target for row in audit_rows(ctx, "user_enabled")] == ["user:teacher_wang"]


def test_disabling_gives_the_tasks_a_user_claimed_back_to_their_candidates(cli):
    cli.run("pathway", "deploy", str(BPMN / "school_screening.bpmn"))
    started = cli.json("start", "school_screening", "--org", "510781001", "--now", "2026-11-02T09:00:00+08:00")
    [screen] = started["tasks"]
    cli.json("claim", str(screen["id"]), "--user", "teacher_a")
    assert cli.json("tasks", "--user", "teacher_county") == []          # claimed: nobody else sees it

    out = cli.json("user", "disable", "teacher_a", "--reason", "离职", "--actor", "sun_sup",
                   "--now", "2026-11-02T11:00:00+08:00")
    assert (out["released"], out["kept"]) == ([screen["id"]], [])
    [task] = cli.json("tasks", "--instance", str(started["instance"]))
    assert (task["status"], task["assignee"]) == ("open", None)
    assert [t["id"] for t in cli.json("tasks", "--user", "teacher_county")] == [screen["id"]]
    events = cli.json("instance", str(started["instance"]))["events"]
    released = [e for e in events if e["kind"] == "task_released"]
    assert [(e["actor"], e["reason"], e["released_from"], e["at"]) for e in released] == [
        ("sun_sup", "user_disabled", "teacher_a", "2026-11-02T11:00:00+08:00")]
    second = cli.json("user", "disable", "teacher_a", "--reason", "离职", "--now", "2026-11-02T12:00:00+08:00")
    assert (second["changed"], second["released"]) == (False, [])

    from engine.context import EngineContext
    from engine.settings import Settings
    ctx = EngineContext(Settings(database_url=cli.env["CAREPATH_DATABASE_URL"]))
    try:
        [disabled] = audit_rows(ctx, "user_disabled")
        assert (disabled.actor, disabled.detail["reason"], disabled.detail["released"]) == \
            ("sun_sup", "离职", [screen["id"]])
        assert [(r.actor, r.target, r.origin) for r in audit_rows(ctx, "task_released")] == \
            [("sun_sup", f"task:{screen['id']}", "cli")]
    finally:
        ctx.db.dispose()


def test_a_task_assigned_by_name_with_no_other_candidate_is_kept_and_listed(ctx):
    from engine.pathways import deploy_files
    deploy_files(ctx, [BPMN / "assignment_forms.bpmn"])
    started = services.start_instance(ctx, "assignment_forms", "510781001",
                                      {"case_manager": "doctor_a", "home_county": "510781"})
    tasks = {t["element"]: t for t in started.tasks}
    services.claim(ctx, tasks["by_users"]["id"], "teacher_b")          # offered to teacher_b and relief_other
    assert tasks["by_assignee"]["assignee"] == "doctor_a"

    kept = accounts.disable_user(ctx, "doctor_a", "长期病假")
    assert (kept["released"], kept["kept"]) == ([], [tasks["by_assignee"]["id"]])
    released = accounts.disable_user(ctx, "teacher_b", "调离")
    assert (released["released"], released["kept"]) == ([tasks["by_users"]["id"]], [])
    now = {t["element"]: (t["status"], t["assignee"]) for t in services.list_tasks(ctx, instance_id=started.instance)}
    assert now["by_assignee"] == ("claimed", "doctor_a") and now["by_users"] == ("open", None)
    assert services.claim(ctx, tasks["by_users"]["id"], "relief_other")["assignee"] == "relief_other"
    with ctx.db.unit_of_work() as session:
        events = list(session.scalars(select(Event).where(Event.kind == "task_released")))
        assert [(e.task_id, e.actor, e.detail["released_from"]) for e in events] == \
            [(tasks["by_users"]["id"], None, "teacher_b")]
    assert [r.actor for r in audit_rows(ctx, "task_released")] == [None]   # audited without an actor too


def test_user_list_shows_every_user_with_their_lock(cli):
    from engine.context import EngineContext
    from engine.settings import Settings
    ctx = EngineContext(Settings(database_url=cli.env["CAREPATH_DATABASE_URL"]))
    try:
        for minute in range(5):
            result = accounts.sign_in(ctx.at(nov2(10, minute)), "teacher_a", "wrong", "10.1.1.1")
        assert result.user is None and result.locked_until == nov2(10, 19)
    finally:
        ctx.db.dispose()
    cli.run("user", "disable", "teacher_b", "--reason", "调离")
    listed = {row["username"]: row for row in cli.json("user", "list", "--now", "2026-11-02T10:10:00+08:00")}
    assert set(listed["teacher_a"]) == {"username", "name", "active", "locked_until"}
    assert listed["teacher_a"] == {"username": "teacher_a", "name": "王老师", "active": True,
                                   "locked_until": "2026-11-02T10:19:00+08:00"}
    assert (listed["teacher_b"]["active"], listed["teacher_b"]["locked_until"]) == (False, None)
    assert len(listed) == 11
    later = {row["username"]: row for row in cli.json("user", "list", "--now", "2026-11-02T10:19:00+08:00")}
    assert later["teacher_a"]["locked_until"] is None
    human = cli.run("user", "list", "--now", "2026-11-02T10:10:00+08:00").stdout
    assert "teacher_a\t王老师\t启用\t锁定至 2026-11-02T10:19:00+08:00" in human and "teacher_b\t李老师\t停用" in human


def test_set_password_from_stdin_follows_the_policy_and_ends_the_users_sessions(cli):
    short = with_stdin(cli, "pw-short\n", "user", "set-password", "teacher_a", "--password-stdin")
    assert short.returncode == 1 and "新密码至少需要 10 个字符" in short.stderr
    named = with_stdin(cli, "teacher_a-2026-new\n", "user", "set-password", "teacher_a", "--password-stdin")
    assert named.returncode == 1 and "不能包含用户名" in named.stderr
    done = with_stdin(cli, NEW_PASSWORD + "\n", "user", "set-password", "teacher_a", "--password-stdin",
                      "--actor", "sun_sup")
    assert done.returncode == 0 and "teacher_a" in done.stdout, done.stderr
    missing = with_stdin(cli, NEW_PASSWORD, "user", "set-password", "nobody", "--password-stdin")
    assert missing.returncode == 1 and "nobody" in missing.stderr

    from engine.context import EngineContext
    from engine.settings import Settings
    ctx = EngineContext(Settings(database_url=cli.env["CAREPATH_DATABASE_URL"]), now=nov2(10))
    try:
        assert accounts.sign_in(ctx, "teacher_a", "pw-teacher-a", None).user is None
        assert accounts.sign_in(ctx, "teacher_a", NEW_PASSWORD, None).user["username"] == "teacher_a"
        [changed] = audit_rows(ctx, "password_changed")
        assert (changed.actor, changed.target, changed.origin) == ("sun_sup", "user:teacher_a", "cli")
    finally:
        ctx.db.dispose()


def test_set_password_without_stdin_prompts_twice(ctx, monkeypatch):
    from engine.cli import cli as carepath
    monkeypatch.setenv("CAREPATH_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.delenv("CAREPATH_NOW", raising=False)
    typed = f"{NEW_PASSWORD}\n{NEW_PASSWORD}-typo\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    # In a copied context: the command sets the audit origin ("cli") for the rest of its context.
    result = contextvars.copy_context().run(CliRunner().invoke, carepath, ["user", "set-password", "teacher_b"],
                                            input=typed)
    assert result.exit_code == 0, result.output
    assert result.output.count("新密码") >= 2 and "teacher_b" in result.output
    assert verify_password(stored_hash(ctx, "teacher_b"), NEW_PASSWORD)


def test_users_are_never_deleted_not_even_by_a_directory_without_them(ctx, tmp_path):
    accounts.disable_user(ctx, "teacher_b", "调离")
    text = (DATA / "directory.yaml").read_text(encoding="utf-8")
    without = "\n".join(line for line in text.splitlines() if "username: teacher_b" not in line)
    assert without != text and "teacher_b" not in without
    (tmp_path / "without.yaml").write_text(without, encoding="utf-8")
    load_directory(ctx.db, tmp_path / "without.yaml")
    with ctx.db.unit_of_work() as session:
        user = directory_repo.get_user(session, "teacher_b")
        assert user is not None and user.active is False and user.name == "李老师"
        memberships = session.scalars(select(Membership).where(Membership.user_id == user.id)).all()
        assert [(m.role_code, m.org_code) for m in memberships] == [("education.teacher", "510781002")]
        assert session.scalar(select(User).where(User.username == "teacher_a")).active is True
    assert "teacher_b" in [row["username"] for row in accounts.list_users(ctx)]

    from engine.cli import cli as carepath
    assert set(carepath.commands["user"].commands) == {"list", "disable", "enable", "set-password"}
    deleting = re.compile(r"delete\(\s*User\b|\.delete\(\s*user\b|DELETE\s+FROM\s+users", re.I)
    found = [str(path.relative_to(ROOT)) for path in (ROOT / "engine").rglob("*.py")
             if deleting.search(path.read_text(encoding="utf-8"))]
    assert found == []


def test_disable_needs_a_reason_and_an_existing_user(cli):
    no_reason = cli.run("user", "disable", "teacher_a", "--reason", "  ", check=False)
    assert no_reason.returncode == 1 and "停用原因" in no_reason.stderr
    unknown = cli.run("user", "disable", "nobody", "--reason", "x", check=False)
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    assert all(row["active"] for row in cli.json("user", "list"))
