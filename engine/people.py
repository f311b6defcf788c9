"""People the pathways carry: registration and lookup by their external reference."""
from __future__ import annotations

from datetime import date

from .errors import InvalidInput, NotFound
from .store import directory as directory_repo
from .store import people as repo
from .store.models import Person
from .store.runtime import record_event

GENDERS = {"男", "女", "未说明"}


def person_dict(person: Person) -> dict:
    return {"id": person.id, "ref": person.ref, "name": person.name, "gender": person.gender,
            "birth_date": person.birth_date.isoformat() if person.birth_date else None,
            "org": person.org_code}


def register_person(ctx, ref: str, name: str, org: str, gender: str | None = None,
                    birth_date: str | date | None = None, actor: str | None = None) -> dict:
    """Register someone once; registering the same ref again with the same details is a no-op."""
    ref, name = (ref or "").strip(), (name or "").strip()
    if not ref or len(ref) > 64:
        raise InvalidInput("人员编号不能为空，且不超过 64 个字符 (person ref)")
    if not name or len(name) > 100:
        raise InvalidInput("姓名不能为空，且不超过 100 个字符 (person name)")
    if gender is not None and gender not in GENDERS:
        raise InvalidInput(f"性别应为 {'/'.join(sorted(GENDERS))} (gender)")
    if isinstance(birth_date, str):
        try:
            birth_date = date.fromisoformat(birth_date)
        except ValueError:
            raise InvalidInput(f"出生日期 {birth_date!r} 不是 YYYY-MM-DD 格式 (birth date)") from None
    with ctx.db.unit_of_work() as session:
        if directory_repo.org_unit(session, org) is None:
            raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
        existing = repo.person_by_ref(session, ref)
        if existing is not None:
            if (existing.name, existing.org_code) != (name, org):
                raise InvalidInput(f"人员编号 {ref} 已登记为另一人 (ref already registered)")
            return person_dict(existing)
        person = repo.add_person(session, ref=ref, name=name, gender=gender, birth_date=birth_date,
                                 org_code=org, registered_at=ctx.clock.now())
        record_event(session, ctx.clock.now(), "person_registered", actor=actor, person=ref, org=org)
        return person_dict(person)


def person_or_fail(session, ref: str) -> Person:
    person = repo.person_by_ref(session, ref)
    if person is None:
        raise NotFound(f"人员 {ref} 未登记 (unknown person)")
    return person
