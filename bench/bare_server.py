"""The baseline server of the throughput benchmark: bare aiohttp on uvloop doing the same JSON
round trip as the gateway (read the body, decode it, encode an answer of the same shape), and
nothing else: no validation, routing, ranking or Redis.

    python -m bench.bare_server PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

import orjson
import uvloop
from aiohttp import web


async def search(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    k = int(body.get("k", 10))
    results = [{"item_id": c, "score": 0.0} for c in body["candidates"][:k]]
    answer = {"search_id": uuid.uuid4().hex, "results": results, "assignments": []}
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


async def events(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    accepted = len(body["events"]) if "events" in body else 1
    return web.Response(
        body=orjson.dumps({"accepted": accepted}), content_type="application/json", status=202
    )


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_post("/v1/search", search)
    app.router.add_post("/v1/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    uvloop.run(serve(int(sys.argv[1])))  # as `abgate serve` runs


if __name__ == "__main__":
    main()
