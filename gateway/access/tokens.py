"""Per-person bearer tokens, stored hashed in Redis, and the cache each process checks them with.

A token is 32 random bytes (``abg_`` + URL-safe base64), shown once when created; Redis keeps
only its SHA-256 (a salt or a slow hash adds nothing for a random 256-bit secret). A process
compares the SHA-256 of the presented token with every known one in constant time
(:func:`hmac.compare_digest`, no early exit), from a cache refreshed at most every
``ttl_s``: a revoked token stops working within that time on every process.

The admin token from the environment (``ABGATE_ADMIN_TOKEN``) is one more entry, never stored.

A name is the actor the audit trail records, so it means one holder for ever: a revoked token
stays in the store as revoked (its name is never given again, with another role or to
another person), and a name that only looks like another — ``adm1n``, ``decision_loop``,
``Alice`` beside ``alice`` — is refused (:func:`skeleton`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.access.refusals import ANONYMOUS
from gateway.access.roles import Principal, Role
from gateway.control.actors import SYSTEM_ACTORS
from gateway.errors import Conflict, NotFound, RequestError
from gateway.keys import Keys
from gateway.throttled_log import ThrottledLog

log = logging.getLogger("abgate.access")

TOKEN_PREFIX: Final = "abg_"
NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}$")
# The name of the environment's admin token in the audit trail.
ENV_ADMIN: Final = "admin"
# Names abgate writes into the audit trail itself: no token may bear them or look like them.
RESERVED_NAMES: Final = frozenset({*SYSTEM_ACTORS, ENV_ADMIN, ANONYMOUS})
# Characters read alike in a list of names: each maps to the one it passes for.
_LOOK_ALIKE: Final = str.maketrans("01!|i32457869", "ollllezastbbg", "._@:+-")


def skeleton(name: str) -> str:
    """What ``name`` looks like to a reader: case, separators and digits that pass for letters
    ignored (``Adm1n`` and ``admin``, ``decision_loop`` and ``decision-loop`` are one)."""
    return name.lower().translate(_LOOK_ALIKE)


# Compare-and-set of one field: a concurrent revoke is not overwritten.
_REPLACE_IF_UNCHANGED: Final = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
"""
_RESERVED_SKELETONS: Final = {skeleton(n): n for n in RESERVED_NAMES}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_name(name: object, where: str = "$.name") -> str:
    """A token's name: the person or tool it belongs to, written into the audit trail."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RequestError(
            where,
            "expected 1-64 characters: letters, digits and . _ @ : + - "
            f"(starting with a letter or digit), got {str(name)[:80]!r}",
        )
    reserved = _RESERVED_SKELETONS.get(skeleton(name))
    if reserved is not None:
        raise RequestError(
            where, f"{name!r} is reserved: it reads as {reserved!r}, a name abgate writes itself"
        )
    return name


@dataclass(frozen=True)
class TokenRecord:
    name: str
    role: Role
    sha256: str
    created_at: float
    created_by: str
    revoked_at: float | None = None  # a revoked token is kept: its name is never reused
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "role": self.role.label,
                "sha256": self.sha256,
                "created_at": self.created_at,
                "created_by": self.created_by,
            }
            | (
                {}
                if self.active
                else {"revoked_at": self.revoked_at, "revoked_by": self.revoked_by}
            )
        )

    @classmethod
    def from_json(cls, name: str, raw: bytes | str) -> TokenRecord:
        data = orjson.loads(raw)
        revoked_at = data.get("revoked_at")
        return cls(
            name,
            Role.parse(data["role"], f"tokens[{name!r}].role"),
            str(data["sha256"]),
            float(data["created_at"]),
            str(data["created_by"]),
            None if revoked_at is None else float(revoked_at),
            None if revoked_at is None else str(data.get("revoked_by", "")),
        )

    def view(self) -> dict[str, Any]:
        """What the API shows of a token: never its hash."""
        shown: dict[str, Any] = {
            "name": self.name,
            "role": self.role.label,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }
        if not self.active:
            shown |= {"revoked_at": self.revoked_at, "revoked_by": self.revoked_by}
        return shown


class TokenStore:
    """The tokens in Redis: one hash, name → record. Names are unique."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def all(self) -> list[TokenRecord]:
        raw: Any = await self.redis.hgetall(self.keys.tokens)
        return [
            TokenRecord.from_json(k.decode() if isinstance(k, bytes) else k, v)
            for k, v in raw.items()
        ]

    async def add(self, name: str, role: Role, token_sha256: str, actor: str) -> TokenRecord:
        record = TokenRecord(check_name(name), role, token_sha256, time.time(), actor)
        for other in await self.all():
            if skeleton(other.name) == skeleton(name):
                raise Conflict(_taken(name, other))
        if not await self.redis.hsetnx(self.keys.tokens, name, record.to_json()):
            raise Conflict(f"a token named {name!r} exists; pick another name")
        return record

    async def create(self, name: str, role: Role, actor: str) -> tuple[str, TokenRecord]:
        """A new random token for ``name``: returned once, stored only as its hash."""
        token = new_token()
        return token, await self.add(name, role, hash_token(token), actor)

    async def revoke(self, name: str, actor: str) -> TokenRecord:
        """Mark the token revoked (kept, so that its name is never given again)."""
        raw: Any = await self.redis.hget(self.keys.tokens, name)
        record = None if raw is None else TokenRecord.from_json(name, raw)
        if record is None or not record.active:
            raise NotFound(f"no active token named {name!r}")
        revoked = replace(record, revoked_at=time.time(), revoked_by=actor)
        changed = await self.redis.eval(
            _REPLACE_IF_UNCHANGED, 1, self.keys.tokens, name, raw, revoked.to_json()
        )
        if changed == -1:
            raise Conflict(f"the token {name!r} changed meanwhile; try again")
        return revoked


def _taken(name: str, other: TokenRecord) -> str:
    whose = "a token" if other.active else "a revoked token (names are never reused)"
    if other.name == name:
        return f"{name!r} is taken by {whose}; pick another name"
    return f"{name!r} looks like {other.name!r}, the name of {whose}; pick another name"


# A token no cached entry matches makes a process read the tokens again, at most this often.
MISS_REREAD_S: Final = 0.1


class Authenticator:
    """Which principal a presented token belongs to, checked in constant time."""

    def __init__(
        self,
        store: TokenStore,
        env_admin_token: str | None,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        redis_down: Callable[[], bool] = lambda: False,
        read_timeout_s: float = 0.5,
        retry_after_failure_s: float = 5.0,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self.redis_down = redis_down
        self.read_timeout_s = read_timeout_s
        self.retry_after_failure_s = retry_after_failure_s
        self._next_refresh_at = 0.0
        self._read_at = -MISS_REREAD_S  # when the tokens were last read (or tried)
        self.unreadable = False  # the last read of the tokens failed: the cache may lack some
        self._fixed: list[tuple[bytes, Principal]] = []
        if env_admin_token is not None:
            self._fixed.append(
                (hash_token(env_admin_token).encode(), Principal(ENV_ADMIN, Role.ADMIN))
            )
        self._stored: list[tuple[bytes, Principal]] = []
        self._revoked: list[tuple[bytes, str]] = []  # so that a refusal names the holder
        self._lock = asyncio.Lock()
        self._failures = ThrottledLog(log, 30.0)

    async def identify(self, token: str) -> Principal | None:
        await self._refresh()
        digest = hash_token(token).encode()
        found = self._match(digest)
        if found is None and self.clock() - self._read_at >= MISS_REREAD_S:
            # Perhaps created a moment ago through another process: read again before
            # refusing (at most once per MISS_REREAD_S, so wrong tokens cannot drive reads).
            self._next_refresh_at = 0.0
            await self._refresh()
            found = self._match(digest)
        return found

    def _match(self, digest: bytes) -> Principal | None:
        found = None
        for known, principal in self._entries():
            # Every entry is compared, match or not: the time taken says nothing about which.
            if hmac.compare_digest(digest, known):
                found = principal
        return found

    def revoked_owner(self, token: str) -> str | None:
        """Whose revoked token this is (compared like :meth:`identify`), if any: a refused
        attempt with it is audited under its holder's name. Uses the cache :meth:`identify`
        refreshed."""
        digest = hash_token(token).encode()
        found = None
        for known, name in self._revoked:
            if hmac.compare_digest(digest, known):
                found = name
        return found

    async def load(self) -> None:
        """Read the tokens now (a process reads them before it takes requests, so a Redis
        outage later finds them cached); a Redis error is raised."""
        records = await self.store.all()
        async with self._lock:
            self._keep(records)
            self._next_refresh_at = self._read_at = self.clock()  # the first request reads again

    def invalidate(self) -> None:
        """Re-read the tokens on the next check (this process just changed them)."""
        self._next_refresh_at = 0.0

    def _entries(self) -> Iterable[tuple[bytes, Principal]]:
        return [*self._fixed, *self._stored]

    async def _refresh(self) -> None:
        if self._fresh():
            return
        async with self._lock:
            if self._fresh():
                return
            wait = self.ttl_s
            try:
                if self.redis_down():
                    raise ConnectionError("redis is down")
                records = await asyncio.wait_for(self.store.all(), self.read_timeout_s)
            except (RedisError, OSError, TimeoutError, ValueError, KeyError) as exc:
                # Keep the tokens known so far: a Redis outage must not lock everyone out,
                # nor make every request wait for it.
                self._failures.warning("cannot read the tokens (%r); using the cached ones", exc)
                self.unreadable = True
                wait = self.retry_after_failure_s
            else:
                self._keep(records)
            self._next_refresh_at = self.clock() + wait
            self._read_at = self.clock()

    def _keep(self, records: Iterable[TokenRecord]) -> None:
        records = list(records)
        self._stored = [(r.sha256.encode(), Principal(r.name, r.role)) for r in records if r.active]
        self._revoked = [(r.sha256.encode(), r.name) for r in records if not r.active]
        self.unreadable = False

    def _fresh(self) -> bool:
        return self.clock() < self._next_refresh_at
