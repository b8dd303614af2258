"""Search ids bound to the user they were made for, so that an event can only be credited to a
search this deployment answered for that very user.

A search id is ``<32 hex random>.<22 base64url characters>``: 128 random bits (the id) and a
128-bit HMAC-SHA256 tag of the id and the user id, under the deployment's key (32 random bytes,
created once in Redis and read by every gateway process at start). Checking an event needs
no Redis (the search path and the event path never wait on it) and says exactly one thing:
this deployment issued this search id to this user. A search id copied from another user's
page, or made up, is refused at the door, whatever the shard count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

from gateway.ids import random_id
from gateway.keys import Keys

KEY_BYTES: Final = 32
TAG_BYTES: Final = 16
TAG_CHARS: Final = 22  # base64url of 16 bytes, unpadded
ID_CHARS: Final = 32


@dataclass(frozen=True)
class SearchIdSigner:
    key: bytes

    def _tag(self, rid: str, user_id: str) -> str:
        mac = hmac.new(self.key, f"{rid}\x00{user_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:TAG_BYTES]).decode()[:TAG_CHARS]

    def issue(self, user_id: str) -> str:
        """A new search id for ``user_id``."""
        rid = random_id()
        return f"{rid}.{self._tag(rid, user_id)}"

    def check(self, search_id: str, user_id: str) -> bool:
        """Whether this deployment issued ``search_id`` to ``user_id`` (constant time)."""
        rid, dot, tag = search_id.partition(".")
        if not dot or len(rid) != ID_CHARS or len(tag) != TAG_CHARS:
            return False
        return hmac.compare_digest(tag, self._tag(rid, user_id))


async def load_signer(redis: Redis, keys: Keys) -> SearchIdSigner:
    """The deployment's key: made once (the first process to start), then read by every one."""
    await redis.set(keys.search_id_key, secrets.token_bytes(KEY_BYTES), nx=True)
    key = await redis.get(keys.search_id_key)
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise RuntimeError(f"{keys.search_id_key} holds no {KEY_BYTES}-byte key")
    return SearchIdSigner(key)
