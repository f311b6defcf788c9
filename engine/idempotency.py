"""Idempotency keys for the API's POSTs that start or complete something.

A caller sends `Idempotency-Key: <key>` with a POST. The first request with that key reserves it
(`reserve` → `Reserved`), runs, and stores its outcome (`complete`). The same request sent again
with the same key — a retry after a lost answer — gets the stored outcome back (`Replay`) instead
of starting or completing twice. Keys belong to their owner (`client:<name>` or
`user:<username>`): two callers never see each other's.

- The same key while the first request has not finished: `Conflict` (retry later).
- The same key with another request (method, path or body differs): `InvalidInput`.
- A key older than KEY_TTL (engine clock) is forgotten: it is replaced by the new request, and
  `purge_expired` deletes old ones.
- A server error is not stored: `complete` with a status of 500 or more, or `release`, deletes the
  reservation, so a retry runs again.

Reserving is concurrency safe: the reservation row is committed at once and (owner, key) is
unique, so of two requests reserving the same key at the same moment exactly one gets
`Reserved`; the other sees the first's row.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from .errors import Conflict, InvalidInput
from .store import api as repo

KEY_TTL = timedelta(hours=24)
# 1–200 printable ASCII characters, not starting or ending with a space (HTTP trims those).
KEY_PATTERN = r"^[!-~](?:[ -~]{0,198}[!-~])?$"
_KEY = re.compile(KEY_PATTERN)
_ATTEMPTS = 3            # a reservation lost to a concurrent one is looked at again this often


@dataclass(frozen=True)
class Replay:
    """The stored outcome of the request that used this key first: answer it again."""
    status_code: int
    response: dict | list | None


@dataclass(frozen=True)
class Reserved:
    """This request holds the key: run it, then `complete` (or `release`) the reservation."""
    id: int


def check_key(key) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput("幂等键 (Idempotency-Key) 须为 1–200 个可打印 ASCII 字符，首尾不为空格 "
                           "(idempotency key must be 1-200 printable ASCII characters, no space at either end)")
    return key


def canonical_body(body: bytes | None) -> bytes:
    """A JSON body with its keys sorted and no insignificant spaces (so the same document sent
    with other formatting is the same request); any other body as it is."""
    body = body or b""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return body
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def request_hash(method: str, path: str, body: bytes | None) -> str:
    """sha256 of the method, the path and the canonical body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode("utf-8"), path.encode("utf-8"), canonical_body(body)):
        digest.update(len(part).to_bytes(8, "big"))      # length-prefixed: no two splits collide
        digest.update(part)
    return digest.hexdigest()


def _decide(row, wanted_hash: str) -> Replay:
    """What a key already held (within its TTL) means for a request with `wanted_hash`."""
    if row.request_hash != wanted_hash:
        raise InvalidInput(f"幂等键 {row.key!r} 已用于另一个请求（{row.method} {row.path}，方法、路径或"
                           f"请求体不同）；新的请求请使用新的幂等键 (idempotency key already used for "
                           f"a different request)")
    if row.status_code is None:
        raise Conflict(f"使用幂等键 {row.key!r} 的请求仍在处理中，请稍后重试 (a request with this "
                       f"idempotency key is still in progress)")
    return Replay(row.status_code, json.loads(row.response) if row.response is not None else None)


def reserve(ctx, owner: str, key: str, method: str, path: str, body: bytes | None) -> Replay | Reserved:
    """Reserve `key` for this request, or say what an earlier request with it came to: `Replay`
    (the same request finished before), `Reserved` (go ahead). Raises Conflict while another
    request with the key runs, InvalidInput when the key came with another request."""
    check_key(key)
    if not owner or len(owner) > 120:
        raise ValueError(f"an idempotency key needs an owner of 1-120 characters, not {owner!r}")
    method = method.upper()
    if len(method) > 10 or len(path) > 1000:
        raise InvalidInput("请求的方法或路径过长，不能使用幂等键 (method or path too long)")
    wanted = request_hash(method, path, body)
    for _ in range(_ATTEMPTS):
        now = ctx.clock.now()
        try:
            with ctx.db.unit_of_work() as session:
                row = repo.idempotency_key(session, owner, key)
                if row is not None and row.created_at + KEY_TTL > now:
                    return _decide(row, wanted)
                if row is not None:                        # expired: the key is free again
                    repo.delete_idempotency_key(session, row.id)
                    session.flush()
                new_id = repo.add_idempotency_key(session, owner=owner, key=key, method=method,
                                                  path=path, request_hash=wanted, created_at=now)
            return Reserved(new_id)
        except IntegrityError:
            continue                # a concurrent request reserved it first: look at its row
    raise Conflict(f"使用幂等键 {key!r} 的请求仍在处理中，请稍后重试 (a request with this idempotency "
                   f"key is still in progress)")


def complete(ctx, reserved: Reserved, status_code: int, response) -> None:
    """Store the outcome of a reserved request, to replay it to a retry. A server error (status
    500 or more) is not stored: the reservation is released, so a retry runs again."""
    if status_code >= 500:
        release(ctx, reserved)
        return
    text = json.dumps(response, ensure_ascii=False) if response is not None else None
    with ctx.db.unit_of_work() as session:
        repo.finish_idempotency_key(session, reserved.id, status_code, text, ctx.clock.now())


def release(ctx, reserved: Reserved) -> None:
    """Give up a reservation that has not been completed, so the key may be used again."""
    with ctx.db.unit_of_work() as session:
        repo.delete_idempotency_key(session, reserved.id, only_in_progress=True)


def purge_expired(ctx) -> int:
    """Delete every key older than KEY_TTL on the engine clock; how many went."""
    with ctx.db.unit_of_work() as session:
        return repo.delete_idempotency_keys_before(session, ctx.clock.now() - KEY_TTL)
