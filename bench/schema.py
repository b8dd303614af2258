"""Search-body decode and validation (gateway.schema.parse_search: msgspec) against the bare
JSON decode of the same body (orjson.loads), measured side by side in one run.

    python -m bench.schema

Prints, per candidate count, microseconds per body and the ratio to the bare decode: what
validation costs on top of reading the JSON at all.
"""

from __future__ import annotations

import timeit

import orjson

from gateway.schema import parse_search

COUNTS = (5, 50, 1000)
NUMBER = 2000
REPEAT = 7


def _best(fn: object) -> float:
    return min(timeit.repeat(fn, number=NUMBER, repeat=REPEAT)) / NUMBER  # type: ignore[arg-type]


def main() -> None:
    print("candidates  orjson.loads µs  parse_search µs  ratio")
    for n in COUNTS:
        body = orjson.dumps(
            {"user_id": "u-1", "query": "red shoes", "candidates": list(range(n)), "k": 10}
        )
        bare = _best(lambda b=body: orjson.loads(b))
        parsed = _best(lambda b=body: parse_search(b))
        print(f"{n:10d}  {bare * 1e6:15.1f}  {parsed * 1e6:15.1f}  {parsed / bare:5.1f}x")


if __name__ == "__main__":
    main()
