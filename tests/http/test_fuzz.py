"""Property-based fuzzing of a live gateway (a real `abgate serve-one` process, real Redis).

Hypothesis generates requests to every route: JSON bodies mutated from valid
ones (missing, unknown and mistyped fields, junk values, huge numbers,
control characters), raw bytes, wrong media types and encodings (gzip and
deflate, valid and corrupt), admin calls with and without the token and
actor, odd methods, paths and query strings; and, over a socket, malformed
HTTP itself. Every answer must be below 500, and every error JSON of the
documented shape. State is accounted for at the end: the streams hold exactly
what accepted requests put there, and the config moved only by the PATCHes
that were answered 200 — so no rejected request changed anything.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.keys import Keys
from gateway.settings import Settings
from tests.live import one_gateway

# Each example is a batch of BATCH requests: one generated body or target in several envelopes.
BATCH = 5
EXAMPLES = int(os.environ.get("ABGATE_FUZZ_EXAMPLES", 2_600))
RAW_EXAMPLES = 600
# The same requests in every run (CI included), no example database, no time limits.
REPEATABLE: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "derandomize": True,
    "suppress_health_check": list(HealthCheck),
}
# A JUNK string that _encode replaces with arrays and objects nested this deep (json.dumps
# itself recurses): msgspec and orjson hit Python's recursion limit at ~1 000 levels.
DEEP = "\x00deep:"
_DEEP_JSON = re.compile(r'"\\u0000deep:(\d+)"')
EXPERIMENTS = ("better", "worse", "aa", "nope", "", "bet ter", "x" * 300)


@dataclass
class Tally:
    sent: int = 0
    rejected: int = 0  # answered 4xx
    searches: int = 0  # answered 200 by /v1/search: one exposure each
    events: int = 0  # accepted by /v1/events
    changes: int = 0  # PATCHes answered 200 with a non-empty diff
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class Live:
    host: str
    port: int
    settings: Settings
    tally: Tally
    conn: http.client.HTTPConnection | None = None

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, redis_server: Any, models_dir: Any
) -> Iterator[Live]:
    with one_gateway(
        tmp_path_factory,
        redis_server.url,
        models_dir,
        "fuzz",
        "fuzz-token",
        {"ABGATE_MAX_BODY_BYTES": str(64 * 1024)},
    ) as (port, settings):
        live = Live("127.0.0.1", port, settings, Tally())
        yield live
        if live.conn is not None:
            live.conn.close()


# --- strategies -----------------------------------------------------------------------------

# Values that break assumptions, drawn cheaply; a few generated ones on top.
JUNK: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    2**63,
    -(2**63) - 1,
    2**70,
    1e308,
    float("nan"),
    float("inf"),
    "",
    " ",
    "\x00",
    "\u200b",
    "x" * 600,
    "\ud83d\ude00",
    [],
    [[]],
    [1, "a", None],
    {},
    {"a": {"b": [1]}},
    {"": None},
    list(range(40)),
    "1",
    "true",
    "null",
    "[1]",
    *(f"{DEEP}{depth}" for depth in (9, 300, 1_000, 5_000)),
]
junk = st.one_of(
    st.sampled_from(JUNK),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=12),
    st.lists(st.sampled_from(JUNK), max_size=3),
)
good_id = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x24F), min_size=1, max_size=12
)
bad_id = st.sampled_from(["", " ", "\t", "a\x00b", "u\u200b", "x" * 129, "\x7f"])


@st.composite
def _mutated(
    draw: st.DrawFn, fields: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]
) -> dict[str, Any]:
    """A valid body (each field's first strategy) with a few fields broken, dropped or added."""
    body = {name: draw(good) for name, (good, _) in fields.items()}
    names = sorted(fields)
    for name in draw(
        st.sets(st.sampled_from(names), max_size=draw(st.sampled_from([0, 0, 1, 1, 2, 3])))
    ):
        body[name] = draw(fields[name][1] | junk)
    for name in draw(
        st.sets(st.sampled_from(names), max_size=draw(st.sampled_from([0, 0, 0, 1, 2])))
    ):
        body.pop(name, None)
    if draw(st.integers(0, 5)) == 0:
        body[draw(st.text(min_size=1, max_size=8))] = draw(junk)
    return body


search_body = _mutated(
    {
        "user_id": (good_id, bad_id),
        "query": (st.text(max_size=30), st.just("q" * 600)),
        "candidates": (
            st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=8, unique=True),
            st.sampled_from([[], [1, 1], [-1], list(range(1001)), [2**62 + 1], [1.5], ["1"]]),
        ),
        "k": (st.integers(min_value=1, max_value=200), st.sampled_from([0, -1, 201, 10**20])),
        "context": (
            st.dictionaries(st.text(max_size=5), st.sampled_from(JUNK), max_size=4),
            st.just({f"k{i}": i for i in range(40)}),
        ),
    }
)
event = _mutated(
    {
        "event_id": (good_id, bad_id),
        "type": (
            st.sampled_from(["click", "add_to_cart", "purchase"]),
            st.sampled_from(["view", ""]),
        ),
        "search_id": (good_id, bad_id),
        "user_id": (good_id, bad_id),
        "item_id": (st.integers(min_value=0, max_value=2**62), st.sampled_from([-1, 2**63])),
        "position": (st.integers(min_value=0, max_value=1000), st.sampled_from([-1, 1001])),
        "value": (st.floats(min_value=0, max_value=100_000), st.sampled_from([-0.01, 1e9, 3.2e6])),
        "ts": (st.floats(min_value=0, max_value=1e11), st.sampled_from([-1.0, 2e11])),
    }
)
events_body = st.one_of(
    event,
    st.fixed_dictionaries({"events": st.lists(event, min_size=1, max_size=4)}),
    st.fixed_dictionaries({"events": st.sampled_from([[], [{"x": 1}] * 501, None, {}, "e"])}),
)
patch_body = _mutated(
    {
        "weights": (
            st.sampled_from(
                [{"control": 0.5, "candidate": 0.5}, {"control": 0.9, "candidate": 0.1}]
            ),
            st.dictionaries(
                st.sampled_from(["control", "candidate", "ghost"]), st.floats(-1, 2), max_size=3
            ),
        ),
        "coverage": (st.floats(min_value=0, max_value=1), st.floats(min_value=1.01, max_value=2)),
        "status": (st.sampled_from(["draft", "running"]), st.sampled_from(["paused", ""])),
        "reason": (st.text(max_size=20), st.just("r" * 600)),
    }
)


def _nested(match: re.Match[str]) -> str:
    depth = int(match.group(1))
    return '[{"a":' * (depth // 2) + "1" + "}]" * (depth // 2)


def _encode(draw: st.DrawFn, value: Any) -> bytes:
    text = json.dumps(value, allow_nan=True)  # NaN, Infinity and 70-bit integers too
    raw = _DEEP_JSON.sub(_nested, text).encode()
    if draw(st.integers(0, 39)) == 0:  # the whole body nested deep (a 200-byte gzip suffices)
        raw = b"[" * 3_000 + raw + b"]" * 3_000
    how = draw(st.integers(0, 19))
    if how == 0:
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]  # truncated
    if how == 1:
        return draw(st.binary(max_size=64))
    return raw


MEDIA_TYPES = ["application/json"] * 6 + [
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/jsonx",
    "",
]
ENCODINGS = [None] * 6 + ["gzip", "deflate", "br", "gzip-corrupt", "identity", "gzip, br"]
AUTH = ["Bearer fuzz-token"] * 3 + [
    "",
    "Bearer",
    "Bearer wrong",
    "Basic x",
    "Bearer é",
    "bearer fuzz-token",
]
ACTORS = [None] * 3 + ["admin", "alice", "decision-loop", "a b", "", "x" * 70, "Worker-Startup"]
Request = tuple[str, str, bytes | None, dict[str, str]]


def _envelope(
    kind: str, body: bytes, media: str, encoding: str | None, auth: str, actor: str | None, key: str
) -> Request:
    headers: dict[str, str] = {}
    if media:
        headers["Content-Type"] = media
    if encoding == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif encoding == "deflate":
        body, headers["Content-Encoding"] = zlib.compress(body), "deflate"
    elif encoding == "gzip-corrupt":
        body, headers["Content-Encoding"] = gzip.compress(body)[:-6] + b"\x00", "gzip"
    elif encoding is not None:
        headers["Content-Encoding"] = encoding
    if kind == "patch":
        if auth:
            headers["Authorization"] = auth
        if actor is not None:
            headers["X-Abgate-Actor"] = actor
        return "PATCH", f"/v1/experiments/{quote(key)}", body, headers
    return "POST", "/v1/search" if kind == "search" else "/v1/events", body, headers


@st.composite
def requests(draw: st.DrawFn) -> list[Request]:
    """One generated body or target, sent in several envelopes: a batch of related requests."""
    kind = draw(st.sampled_from(["search", "events", "patch", "search", "events", "get", "other"]))
    if kind in ("search", "events", "patch"):
        value = draw({"search": search_body, "events": events_body, "patch": patch_body}[kind])
        body = _encode(draw, value)
        envelopes = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(MEDIA_TYPES),
                    st.sampled_from(ENCODINGS),
                    st.sampled_from(AUTH),
                    st.sampled_from(ACTORS),
                    st.sampled_from(EXPERIMENTS),
                ),
                min_size=BATCH,
                max_size=BATCH,
            )
        )
        return [_envelope(kind, body, *e) for e in envelopes]
    if kind == "get":
        paths = st.sampled_from(
            ["/v1/audit", "/v1/experiments", "/v1/models", "/healthz", "/readyz", "/metrics"]
        ) | st.sampled_from(EXPERIMENTS).map(lambda k: f"/v1/experiments/{quote(k)}")
        queries = st.sampled_from(
            ["", "?count=5", "?count=0", "?count=-1", "?count=x", "?count=1" + "0" * 30, "?a=%zz"]
        )
        pairs = draw(st.lists(st.tuples(paths, queries), min_size=BATCH, max_size=BATCH))
        return [("GET", p + q, None, {}) for p, q in pairs]
    methods = st.sampled_from(["DELETE", "PUT", "OPTIONS", "GET", "POST", "PATCH"])
    paths = st.sampled_from(
        [
            "/",
            "/v1",
            "/v1/search",
            "/v1/events",
            "/v1/experiments",
            "/nope",
            "/v1/experiments/better/x",
            "/%2e%2e/etc",
        ]
    )
    triples = draw(
        st.lists(
            st.tuples(methods, paths, st.none() | st.binary(max_size=32)),
            min_size=BATCH,
            max_size=BATCH,
        )
    )
    return [(m, p, b, {}) for m, p, b in triples]


def _check(status: int, headers: dict[str, str], data: bytes) -> None:
    assert status < 500, (status, data[:300])
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/json"), (
            status,
            headers,
            data[:200],
        )
        error = json.loads(data)["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str)


@settings(max_examples=EXAMPLES, **REPEATABLE)
@given(batch=requests())
def _fuzz_once(live: Live, batch: list[Request]) -> None:
    for method, path, body, headers in batch:
        status, response_headers, data = live.send(method, path, body, headers)
        tally = live.tally
        tally.sent += 1
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        _check(status, response_headers, data)
        if 400 <= status < 500:
            tally.rejected += 1
        elif path == "/v1/search" and status == 200:
            tally.searches += 1
        elif path == "/v1/events" and status == 202:
            tally.events += json.loads(data)["accepted"]
        elif method == "PATCH" and status == 200 and json.loads(data)["diff"]:
            tally.changes += 1


raw_lines = st.one_of(
    st.binary(min_size=1, max_size=200),
    st.builds(
        lambda m, p, v: f"{m} {p} {v}\r\nHost: x\r\n\r\n".encode("utf-8", "surrogateescape"),
        st.sampled_from(["GET", "POST", "G\x00T", "", "BREW"]),
        st.sampled_from(["/healthz", "/" + "a" * 9000, "*", "http://x/", "/\x7f", ""]),
        st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "HTTP/1.1 extra", ""]),
    ),
    st.builds(
        lambda name, value: f"GET /healthz HTTP/1.1\r\nHost: x\r\n{name}: {value}\r\n\r\n".encode(
            "utf-8", "surrogateescape"
        ),
        st.sampled_from(
            ["X-A", "Bad Name", "", ":", "X" * 9000, "Content-Length", "Transfer-Encoding"]
        ),
        st.sampled_from(["1", "v" * 9000, "chunked", "-1", "1, 2", "\x01"]),
    ),
    st.just(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n"
    ),
)


@settings(max_examples=RAW_EXAMPLES, **REPEATABLE)
@given(data=raw_lines)
def _raw_once(live: Live, data: bytes) -> None:
    with socket.create_connection((live.host, live.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    live.tally.sent += 1
    if not received:
        return  # the peer sent too little to answer (e.g. a request line it is still waiting for)
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    _check(status, headers, body[: int(headers.get("content-length", len(body)))])
    if 400 <= status < 500:
        live.tally.rejected += 1


# A fixed number of requests (EXAMPLES): on a machine shared with other live systems (make
# test's three processes) that takes longer than the suite's default timeout.
@pytest.mark.timeout(900)
def test_fuzzed_requests_get_json_4xx_and_change_nothing(live: Live) -> None:
    r = redis.Redis.from_url(live.settings.redis_url or "")
    keys = Keys(live.settings.prefix)
    version_before = int(r.get(keys.version) or 0)
    audit_before = r.xlen(keys.audit)
    _fuzz_once(live)
    _raw_once(live)
    tally = live.tally
    print(f"fuzz: {tally}")  # shown with -s: the figures for a closing note
    assert tally.sent == EXAMPLES * BATCH + RAW_EXAMPLES
    assert tally.rejected >= min(10_000, EXAMPLES * BATCH * 3 // 4), tally
    # Everything accepted, and nothing else, reached Redis once the sink flushed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (
            r.xlen(keys.shard(0).exposures) >= tally.searches
            and r.xlen(keys.shard(0).outcomes) >= tally.events
        ):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    assert r.xlen(keys.shard(0).exposures) == tally.searches, tally
    assert r.xlen(keys.shard(0).outcomes) == tally.events, tally
    assert int(r.get(keys.version) or 0) == version_before + tally.changes
    # Changes, and refusals (at most one entry per interval, with how many it held back).
    new = [orjson.loads(f[b"e"]) for _, f in r.xrange(keys.audit)][audit_before:]
    refusals = [e for e in new if "refused" in e]
    assert len(new) - len(refusals) == tally.changes
    assert refusals and all(e["actor"] in ("anonymous", "admin") for e in refusals)
    r.close()
