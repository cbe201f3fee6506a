"""Ingest throughput: amtriage's POST /webhook against a bare aiohttp handler on the same payload.

Both servers run as their own processes; delivery runs (amtriage forwards every notification
to a sink, which is a second bare server). The load comes from this process: a fixed number of
POSTs at a fixed concurrency over keep-alive connections, as Alertmanager sends them. Prints
requests/s for each and the ratio; never fails on time.

    python bench/ingest.py [--requests 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.proc import free_port, wait_ready  # noqa: E402 - after the path set-up above

PAYLOAD = ROOT.parent / "shared" / "fixtures" / "alertmanager" / "02-firing-group-3-alerts.json"


def bare_server(port: int) -> None:
    """The baseline: read, parse, answer, nothing stored."""

    async def handle(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        return web.json_response({"status": "accepted", "alerts": len(doc.get("alerts", []))})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.post("/webhook", handle), web.post("/hook", handle), web.get("/readyz", ready)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def load(url: str, body: bytes, requests: int, concurrency: int) -> tuple[float, int]:
    """Send `requests` POSTs with `concurrency` in flight; returns (seconds, non-200 count)."""
    failures = 0
    queue = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            for _ in queue:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    failures += resp.status != 200

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=300)
        return time.perf_counter() - started, failures


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    body = PAYLOAD.read_bytes()
    bare_port, sink_port, amtriage_port = free_port(), free_port(), free_port()
    procs = [spawn(__file__, "--serve-bare", str(bare_port)), spawn(__file__, "--serve-bare", str(sink_port))]
    with tempfile.TemporaryDirectory(prefix="amtriage-bench-") as tmp:
        config = Path(tmp) / "amtriage.yaml"
        config.write_text(
            f"server: {{listen: '127.0.0.1:{amtriage_port}'}}\n"
            f"outbox: {{path: '{tmp}/outbox.db', max_items: 1000000}}\n"
            f"classifier: {{rules_file: '{ROOT / 'config' / 'classifier.yaml'}'}}\n"
            f"receivers: [{{name: sink, type: webhook, url: 'http://127.0.0.1:{sink_port}/hook'}}]\n"
        )
        procs.append(spawn("-m", "receiver", "serve", "--config", str(config), "--log-level", "warning"))
        try:
            for port in (bare_port, sink_port, amtriage_port):
                await wait_ready(f"http://127.0.0.1:{port}/readyz")
            results = {}
            for name, port in (("bare aiohttp", bare_port), ("amtriage", amtriage_port)):
                await load(f"http://127.0.0.1:{port}/webhook", body, 200, args.concurrency)  # warm up
                seconds, failures = await load(f"http://127.0.0.1:{port}/webhook", body, args.requests,
                                               args.concurrency)
                results[name] = args.requests / seconds
                print(f"{name:>14}: {results[name]:8.0f} req/s  ({args.requests} POSTs, "
                      f"concurrency {args.concurrency}, {failures} non-200)")
            print(f"{'ratio':>14}: {results['amtriage'] / results['bare aiohttp']:8.2f}x of bare aiohttp "
                  "(durable group-committed write, delivery running)")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-bare":
        bare_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
