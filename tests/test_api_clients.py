"""API clients are service accounts: `api:<name>` users with memberships (their jurisdiction),
a token with scopes, and no password. A token works until it is rotated, revoked, expired on
the engine clock or its user is disabled, and every refusal reads the same. The service user
never signs in at /login. `carepath api-client` makes, lists, revokes and rotates them."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from engine import accounts
from engine.apiclients import (
    INVALID_TOKEN, SCOPES, ApiPrincipal, authenticate, create_client, list_clients, require_scope,
    revoke_client, rotate_token,
)
from engine.directory import authenticate as password_check
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.runtime import services
from engine.store.api import ApiClient
from engine.store.audit import AuditEvent
from engine.store.models import Membership, User
from engine.worklist import inbox

from conftest import SHANGHAI, T0, deploy_pathways
from plans import captured_statements
from web import WebClient, text_of

TOKEN = re.compile(r"cp_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")
JIANGYOU, TAIPING, FUCHENG_TOWNSHIP = "510781", "510781001", "510703001"
TAIPING_VILLAGE = "510781001001"


def make(ctx, name="his-jiangyou", members=(("health.psychiatrist", JIANGYOU),),
         scopes=("tasks:read", "tasks:write"), **kwargs):
    return create_client(ctx, name, list(members), list(scopes), "admin_zhang", **kwargs)


def refusal(ctx, token) -> str:
    with pytest.raises(PermissionDenied) as raised:
        authenticate(ctx, token)
    return raised.value.message


def audit_rows(ctx, action: str) -> list[AuditEvent]:
    with ctx.db.unit_of_work() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        session.expunge_all()
        return rows


def stored_client(ctx, name: str) -> ApiClient:
    with ctx.db.unit_of_work() as session:
        row = session.scalar(select(ApiClient).where(ApiClient.name == name))
        session.expunge_all()
        return row


# --- making a client, its token and scopes ----------------------------------------------------------

def test_a_new_client_is_a_service_user_with_memberships_a_token_and_scopes(ctx):
    client, token = make(ctx, scopes=["tasks:write", "tasks:read", "tasks:read"])
    assert TOKEN.fullmatch(token), token
    assert client == {
        "name": "his-jiangyou", "username": "api:his-jiangyou", "scopes": ["tasks:read", "tasks:write"],
        "memberships": [{"role": "health.psychiatrist", "org": JIANGYOU}], "token_prefix": token[3:11],
        "status": "active", "created_at": T0, "created_by": "admin_zhang", "expires_at": None,
        "revoked_at": None, "revoked_by": None, "last_used_at": None}

    principal = authenticate(ctx, token)
    assert principal == ApiPrincipal(principal.client_id, "his-jiangyou", "api:his-jiangyou",
                                     frozenset({"tasks:read", "tasks:write"}))
    require_scope(principal, "tasks:read")
    with pytest.raises(PermissionDenied, match="pathways:deploy"):
        require_scope(principal, "pathways:deploy")

    # Only the hash of the whole token is kept; the secret is nowhere in the database.
    row = stored_client(ctx, "his-jiangyou")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.token_prefix == token[3:11]
    with ctx.db.engine.connect() as connection:
        dumped = repr(connection.execute(text("SELECT * FROM api_clients")).all())
        dumped += repr(connection.execute(text("SELECT * FROM audit_log")).all())
    assert token[12:] not in dumped and token not in dumped

    [created] = audit_rows(ctx, "api_client_created")
    assert (created.actor, created.target) == ("admin_zhang", "api_client:his-jiangyou")
    assert created.detail["scopes"] == ["tasks:read", "tasks:write"]
    assert created.detail["memberships"] == ["health.psychiatrist@510781"]


def test_the_twelve_scopes(ctx):
    assert list(SCOPES) == ["pathways:read", "pathways:deploy", "instances:read", "instances:write",
                            "tasks:read", "tasks:write", "people:read", "escalations:read",
                            "escalations:write", "indicators:read", "messages:send", "fhir:read"]
    assert all(zh and en for zh, en in SCOPES.values())
    client, token = make(ctx, scopes=list(SCOPES))
    assert authenticate(ctx, token).scopes == frozenset(SCOPES)


@pytest.mark.parametrize("name, members, scopes, expires, message", [
    ("A", [("health.psychiatrist", JIANGYOU)], ["tasks:read"], None, "名称"),
    ("-his", [("health.psychiatrist", JIANGYOU)], ["tasks:read"], None, "名称"),
    ("his jiangyou", [("health.psychiatrist", JIANGYOU)], ["tasks:read"], None, "名称"),
    ("h" * 64, [("health.psychiatrist", JIANGYOU)], ["tasks:read"], None, "名称"),
    ("his", [], ["tasks:read"], None, "至少指定一个成员身份"),
    ("his", [("health.surgeon", JIANGYOU)], ["tasks:read"], None, "角色 health.surgeon 不存在"),
    ("his", [("health.psychiatrist", "999999")], ["tasks:read"], None, "机构 999999 不存在"),
    ("his", [("health.psychiatrist", JIANGYOU)], ["tasks:read", "tasks:delete"], None, "tasks:delete"),
    ("his", [("health.psychiatrist", JIANGYOU)], [], None, "至少指定一个权限范围"),
    ("his", [("health.psychiatrist", JIANGYOU)], ["tasks:read"], T0, "已过"),
])
def test_what_a_new_client_needs(ctx, name, members, scopes, expires, message):
    with pytest.raises(InvalidInput, match=message):
        create_client(ctx, name, members, scopes, "admin_zhang", expires_at=expires)
    assert list_clients(ctx) == []
    with ctx.db.unit_of_work() as session:
        assert session.scalar(select(User).where(User.username.like("api:%"))) is None


def test_a_name_is_taken_once(ctx):
    make(ctx, name="his")
    with pytest.raises(Conflict, match="his"):
        make(ctx, name="his", members=[("civil.relief_officer", JIANGYOU)])
    assert [c["memberships"] for c in list_clients(ctx)] == [[{"role": "health.psychiatrist", "org": JIANGYOU}]]
    assert make(ctx, name="h" * 63)[0]["username"] == "api:" + "h" * 63


# --- every refusal reads the same ---------------------------------------------------------------------

def test_wrong_malformed_revoked_expired_rotated_and_disabled_tokens_are_refused_alike(ctx):
    _, token = make(ctx)
    prefix, secret = token[3:11], token[12:]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    elsewhere = "0" * 8 if prefix != "0" * 8 else "1" * 8
    _, other = make(ctx, name="relief", members=[("civil.relief_officer", JIANGYOU)])
    messages = {
        "wrong secret": refusal(ctx, f"cp_{prefix}_{flipped}"),
        "unknown prefix": refusal(ctx, f"cp_{elsewhere}_{secret}"),
        "another client's secret": refusal(ctx, f"cp_{prefix}_{other[12:]}"),
        "empty": refusal(ctx, ""),
        "none": refusal(ctx, None),
        "bearer included": refusal(ctx, f"Bearer {token}"),
        "trailing newline": refusal(ctx, token + "\n"),
        "one character more": refusal(ctx, token + "x"),
        "upper-case marker": refusal(ctx, "CP" + token[2:]),
        "cut short": refusal(ctx, token[:-1]),
    }
    assert authenticate(ctx, token).name == "his-jiangyou"        # the real one still works

    # expired on the engine clock: valid up to the instant before
    _, expiring = make(ctx, name="school", members=[("education.teacher", TAIPING)],
                       expires_at=T0 + timedelta(days=1))
    assert authenticate(ctx.at(T0 + timedelta(days=1) - timedelta(seconds=1)), expiring).name == "school"
    messages["expired"] = refusal(ctx.at(T0 + timedelta(days=1)), expiring)
    assert [c["status"] for c in list_clients(ctx.at(T0 + timedelta(days=2))) if c["name"] == "school"] == ["expired"]

    # rotated: the old token stops at once, the new one works
    client, rotated = rotate_token(ctx, "his-jiangyou", "admin_zhang")
    assert rotated != token and client["token_prefix"] == rotated[3:11] != prefix
    messages["rotated"] = refusal(ctx, token)
    assert authenticate(ctx, rotated).name == "his-jiangyou"
    assert [r.detail["old_prefix"] for r in audit_rows(ctx, "api_client_token_rotated")] == [prefix]

    # the service user disabled (as any user is), then enabled again
    accounts.disable_user(ctx, "api:his-jiangyou", "合同到期", actor="admin_zhang")
    messages["user disabled"] = refusal(ctx, rotated)
    accounts.enable_user(ctx, "api:his-jiangyou", actor="admin_zhang")
    assert authenticate(ctx, rotated).name == "his-jiangyou"

    # revoked: for good
    revoked = revoke_client(ctx, "his-jiangyou", "admin_zhang")
    assert (revoked["status"], revoked["revoked_by"], revoked["changed"]) == ("revoked", "admin_zhang", True)
    messages["revoked"] = refusal(ctx, rotated)
    assert revoke_client(ctx, "his-jiangyou", "admin_zhang")["changed"] is False
    with pytest.raises(Conflict, match="已吊销"):
        rotate_token(ctx, "his-jiangyou", "admin_zhang")
    assert len(audit_rows(ctx, "api_client_revoked")) == 1
    assert authenticate(ctx, other).name == "relief"             # other clients are untouched

    assert set(messages.values()) == {INVALID_TOKEN}, messages
    assert len(messages) == 14


def test_unknown_clients_cannot_be_revoked_or_rotated(ctx):
    with pytest.raises(NotFound, match="nobody"):
        revoke_client(ctx, "nobody", "admin_zhang")
    with pytest.raises(NotFound, match="nobody"):
        rotate_token(ctx, "nobody", "admin_zhang")


def test_list_never_shows_a_token_or_its_hash(ctx):
    _, first = make(ctx, name="school", members=[("education.teacher", TAIPING)], scopes=["tasks:read"])
    _, second = make(ctx, name="his", expires_at=datetime(2027, 1, 1, tzinfo=SHANGHAI))
    revoke_client(ctx, "school", None)
    listed = list_clients(ctx)
    assert [(c["name"], c["status"], c["expires_at"]) for c in listed] == [
        ("his", "active", datetime(2027, 1, 1, tzinfo=SHANGHAI)), ("school", "revoked", None)]
    assert all("token_hash" not in c and "token" not in c for c in listed)
    shown = repr(listed)
    for token in (first, second):
        assert token[12:] not in shown and hashlib.sha256(token.encode()).hexdigest() not in shown


# --- last use, written at most once a minute ----------------------------------------------------------

def test_last_used_is_written_at_most_once_a_minute(ctx):
    _, token = make(ctx)

    def use(moment: datetime) -> int:
        """Authenticate at `moment`; the number of writes it made."""
        with captured_statements(ctx.db.engine) as statements:
            authenticate(ctx.at(moment), token)
        return sum(1 for sql, _ in statements if sql.lstrip().upper().startswith("UPDATE"))

    def last_used() -> datetime | None:
        return stored_client(ctx, "his-jiangyou").last_used_at

    assert use(T0) == 1 and last_used() == T0
    assert use(T0 + timedelta(seconds=30)) == 0 and last_used() == T0
    assert use(T0 + timedelta(seconds=59)) == 0 and last_used() == T0
    assert use(T0 + timedelta(seconds=60)) == 1 and last_used() == T0 + timedelta(seconds=60)
    assert use(T0 + timedelta(seconds=61)) == 0 and last_used() == T0 + timedelta(seconds=60)
    assert use(T0 + timedelta(hours=3)) == 1 and last_used() == T0 + timedelta(hours=3)
    assert list_clients(ctx)[0]["last_used_at"] == T0 + timedelta(hours=3)


# --- the service user never signs in ------------------------------------------------------------------

def test_the_service_user_cannot_sign_in_with_any_password(ctx):
    _, token = make(ctx)
    tries = ["", "!", token, token[12:], "carepath-demo", "pw-teacher-a", "api:his-jiangyou"]
    for hour, password in enumerate(tries):       # hours apart: never locked, each one checked
        signing_in = ctx.at(T0 + timedelta(hours=hour))
        assert accounts.sign_in(signing_in, "api:his-jiangyou", password, "10.0.0.9").user is None, password
        with ctx.db.unit_of_work() as session:
            assert password_check(session, "api:his-jiangyou", password) is None
    failed = [row.actor for row in audit_rows(ctx, "login_failed")]
    assert failed == ["api:his-jiangyou"] * len(tries)
    assert audit_rows(ctx, "login") == []


def test_the_login_page_answers_the_service_user_as_any_wrong_password(ctx):
    from webui import create_app
    make(ctx)
    app = create_app(ctx, now=lambda: T0)
    service = WebClient(app)
    service.get("/login")
    refused = service.post("/login", {"username": "api:his-jiangyou", "password": "!"})
    stranger = WebClient(app)
    stranger.get("/login")
    unknown = stranger.post("/login", {"username": "no_such_user", "password": "!"})
    assert refused.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in text_of(refused)
    assert text_of(refused).replace("api:his-jiangyou", "X") == text_of(unknown).replace("no_such_user", "X")
    assert service.get("/tasks").status_code == 302           # still signed out


def test_an_administrator_cannot_give_the_service_user_a_password(ctx):
    make(ctx)
    with pytest.raises(InvalidInput):
        accounts.set_password(ctx, "api:his-jiangyou", "Jiangyou-river-2026", actor="admin_zhang")
    assert accounts.sign_in(ctx, "api:his-jiangyou", "Jiangyou-river-2026", None).user is None


# --- memberships are the client's jurisdiction ---------------------------------------------------------

def test_memberships_give_the_client_its_jurisdiction(region):
    deploy_pathways(region, "school_screening")
    taiping, _ = create_client(region, "school-taiping", [("education.teacher", TAIPING)],
                               ["tasks:read", "tasks:write"], "admin_zhang")
    create_client(region, "school-fucheng", [("education.teacher", FUCHENG_TOWNSHIP)], ["tasks:read"], None)
    with region.db.unit_of_work() as session:
        actor = services.actor_for(session, "api:school-taiping")
    assert actor.grants == (("education.teacher", "/510000/510700/510781/510781001/"),)

    instance = services.start_instance(region, "school_screening", TAIPING_VILLAGE).instance
    [task] = inbox(region, "api:school-taiping")["tasks"]
    assert (task["element"], task["instance"]) == ("screening", instance)
    assert inbox(region, "api:school-fucheng")["tasks"] == []
    with pytest.raises(PermissionDenied):
        services.claim(region, task["id"], "api:school-fucheng")

    claimed = services.claim(region, task["id"], "api:school-taiping")
    assert (claimed["status"], claimed["assignee"]) == ("claimed", "api:school-taiping")

    # Revoked: its user is disabled, so it holds no jurisdiction, and the task goes back.
    revoked = revoke_client(region, "school-taiping", "admin_zhang")
    assert revoked["released"] == [task["id"]] and revoked["kept"] == []
    with region.db.unit_of_work() as session:
        with pytest.raises(PermissionDenied):
            services.actor_for(session, "api:school-taiping")
        memberships = session.scalars(select(Membership).join(User, User.id == Membership.user_id)
                                      .where(User.username == "api:school-taiping")).all()
        assert len(memberships) == 1                                 # kept, as for any disabled user
    assert [t["id"] for t in inbox(region, "teacher_wang")["tasks"]] == [task["id"]]
    assert taiping["memberships"] == [{"role": "education.teacher", "org": TAIPING}]


# --- the command line ----------------------------------------------------------------------------------

def test_carepath_api_client_create_list_rotate_revoke(cli):
    made = cli.json("api-client", "create", "his-jiangyou", "--member", "health.psychiatrist@510781",
                    "--member", "civil.relief_officer@510781", "--scope", "tasks:read,tasks:write",
                    "--scope", "people:read", "--expires", "2026-12-31", "--actor", "admin_zhang",
                    "--now", "2026-11-02T09:00:00+08:00")
    token = made["token"]
    assert TOKEN.fullmatch(token) and "只显示这一次" in made["warning"]
    client = made["client"]
    assert (client["username"], client["scopes"], client["status"]) == (
        "api:his-jiangyou", ["tasks:read", "tasks:write", "people:read"], "active")
    assert client["memberships"] == [{"role": "civil.relief_officer", "org": "510781"},
                                     {"role": "health.psychiatrist", "org": "510781"}]
    assert client["expires_at"] == "2027-01-01T00:00:00+08:00"      # through 31 December, local time
    assert client["created_at"] == "2026-11-02T09:00:00+08:00"

    listed = cli.run("api-client", "list", "--json", "--now", "2026-11-03T09:00:00+08:00").stdout
    assert token[12:] not in listed and hashlib.sha256(token.encode()).hexdigest() not in listed
    human = cli.run("api-client", "list").stdout
    assert "his-jiangyou" in human and token[3:11] in human and token[12:] not in human

    shown = cli.run("api-client", "create", "school", "--member", "education.teacher@510781001",
                    "--scope", "tasks:read")
    [printed] = TOKEN.findall(shown.stdout)
    assert "只显示这一次" in shown.stderr and printed not in shown.stderr

    rotated = cli.json("api-client", "rotate", "his-jiangyou")
    assert rotated["token"] != token and rotated["client"]["token_prefix"] == rotated["token"][3:11]
    revoked = cli.json("api-client", "revoke", "his-jiangyou", "--actor", "admin_zhang")
    assert (revoked["status"], revoked["changed"], revoked["revoked_by"]) == ("revoked", True, "admin_zhang")
    assert [(c["name"], c["status"]) for c in cli.json("api-client", "list")] == [
        ("his-jiangyou", "revoked"), ("school", "active")]


def test_carepath_api_client_refusals_are_one_clear_line(cli):
    bad_member = cli.run("api-client", "create", "his", "--member", "health.psychiatrist", "--scope",
                         "tasks:read", check=False)
    assert bad_member.returncode == 2 and "--member" in bad_member.stderr
    bad_scope = cli.run("api-client", "create", "his", "--member", "health.psychiatrist@510781", "--scope",
                        "tasks:delete", check=False)
    assert bad_scope.returncode == 1 and "tasks:delete" in bad_scope.stderr and "Traceback" not in bad_scope.stderr
    bad_date = cli.run("api-client", "create", "his", "--member", "health.psychiatrist@510781", "--scope",
                       "tasks:read", "--expires", "soon", check=False)
    assert bad_date.returncode == 2 and "--expires" in bad_date.stderr
    gone = cli.run("api-client", "revoke", "nobody", check=False)
    assert gone.returncode == 1 and "nobody" in gone.stderr
    assert cli.json("api-client", "list") == []


def test_every_api_client_command_takes_json_and_now():
    from engine.cli import cli as carepath
    group = carepath.commands["api-client"]
    assert set(group.commands) == {"create", "list", "revoke", "rotate"}
    for name, command in group.commands.items():
        options = {opt for param in command.params for opt in param.opts}
        assert {"--json", "--now"} <= options, name


# --- the schema revision ---------------------------------------------------------------------------------

def test_revision_0004_goes_down_and_up_again(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from engine.store.db import Database
    from engine.store.migrations import runner
    from engine.store.models import Base

    def differences(db):
        with db.engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    db = Database(db_url)
    runner.upgrade(db)
    assert differences(db) == []
    indexes = {i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes("api_clients")}
    assert indexes["ix_api_clients_token_prefix"] == ["token_prefix"]
    assert runner.downgrade(db, "0003_inbox_scope") == ["0008_lean_indexes", "0007_reference_token", "0006_simulations",
                                                        "0005_message_scope", "0004_api_clients"]
    assert not {"api_clients", "idempotency_keys"} & set(inspect(db.engine).get_table_names())
    missing = differences(db)
    assert {(d[0], d[1].name) for d in missing if d[0] != "add_column"} == {
        ("add_table", "api_clients"), ("add_index", "ix_api_clients_token_prefix"),
        ("add_table", "idempotency_keys"), ("add_index", "ix_idempotency_keys_created_at"),
        ("add_table", "simulations"), ("add_index", "ix_simulations_created_at"),                # revision 0006's
        ("add_table", "reference_token"),                                                         # revision 0007's
        ("remove_index", "ix_instances_process_id"), ("remove_index", "ix_human_tasks_instance_id"),  # 0008's
        ("remove_index", "ix_human_tasks_due_kind"), ("remove_index", "ix_events_at")}
    assert {(d[2], d[3].name) for d in missing if d[0] == "add_column"} == {          # revision 0005's
        ("messages", "scope_path"), ("messages", "sent_by")}
    assert runner.upgrade(db).applied == ["0004_api_clients", "0005_message_scope", "0006_simulations",
                                          "0007_reference_token", "0008_lean_indexes"]
    assert differences(db) == []
    db.dispose()
