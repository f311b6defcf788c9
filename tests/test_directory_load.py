"""`carepath directory load` is idempotent, hashes passwords and explains bad files."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.directory import DirectoryError, load_directory, verify_password
from engine.store.models import Membership, OrgUnit, User

from conftest import DATA


def _counts(ctx):
    with ctx.db.unit_of_work() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (OrgUnit, User, Membership))


def test_loading_twice_changes_nothing(ctx):
    before = _counts(ctx)
    with ctx.db.unit_of_work() as session:
        hash_before = session.scalar(select(User.password_hash).where(User.username == "sun_sup"))
    load_directory(ctx.db, DATA / "directory.yaml")
    assert _counts(ctx) == before == (8, 11, 12)
    with ctx.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == "sun_sup"))
        unit = session.get(OrgUnit, "510781001001")
    assert user.password_hash == hash_before and user.password_hash.startswith("$argon2")
    assert "pw-sup" not in user.password_hash and verify_password(user.password_hash, "pw-sup")
    assert unit.path == "/510000/510700/510781/510781001/510781001001/" and unit.level == "village"


@pytest.mark.parametrize("text, message", [
    ("roles: [{code: nodots, name: x}]", "dotted"),
    ("org_units: [{code: '1', name: a, level: city, children: [{code: '2', name: b, level: province}]}]",
     "cannot sit under"),
    ("roles: [{code: a.b, name: x}]\nusers: [{username: u, roles: [{role: a.c, org: '1'}]}]", "unknown role"),
    ("org_units: [{code: '1', name: a, level: planet}]", "level must be one of"),
    ("roles: [ {code: a.b", "not valid YAML"),
])
def test_bad_files_say_what_and_where(ctx, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    before = _counts(ctx)
    with pytest.raises(DirectoryError, match=message) as caught:
        load_directory(ctx.db, path)
    assert str(path) in str(caught.value)
    assert _counts(ctx) == before


def test_cli_load(cli):
    result = cli.run("directory", "load", str(DATA / "directory.yaml"))
    assert "11 个用户" in result.stdout


def test_loading_again_never_undoes_a_password_change_or_a_disable(ctx, tmp_path):
    from engine import accounts
    accounts.set_password(ctx, "sun_sup", "a-new-long-passphrase-2026")
    accounts.disable_user(ctx, "sun_sup", "调离岗位")
    load_directory(ctx.db, DATA / "directory.yaml")
    with ctx.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.username == "sun_sup"))
    assert user.active is False
    assert verify_password(user.password_hash, "a-new-long-passphrase-2026")
    assert not verify_password(user.password_hash, "pw-sup")
    # Only a file that says so enables the user again.
    text = (DATA / "directory.yaml").read_text(encoding="utf-8").replace(
        "username: sun_sup,", "username: sun_sup, active: true,")
    assert "active: true" in text
    (tmp_path / "directory.yaml").write_text(text, encoding="utf-8")
    load_directory(ctx.db, tmp_path / "directory.yaml")
    with ctx.db.unit_of_work() as session:
        assert session.scalar(select(User.active).where(User.username == "sun_sup")) is True
