"""Ingest throughput: amtriage's POST /webhook against a bare aiohttp handler on the same payload.

Both servers run as their own processes; delivery runs (amtriage forwards every notification
to a sink, which is a second bare server). The load comes from this process: a fixed number of
POSTs at a fixed concurrency over keep-alive connections, as Alertmanager sends them, each a new alert
event (so delivery classifies and forwards every one rather than deduplicating): from wrk
(Debian's package; `make bench` installs it) when it is there, else from an aiohttp client in
this process. Prints requests/s for each and the ratio; never fails on time.

    python bench/ingest.py [--seconds 10] [--concurrency 32] [--python-client --requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
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


def wrk(url: str, seconds: int, concurrency: int) -> tuple[float, str]:
    """Load from wrk (C, one thread): requests/s and its latency line."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(ROOT / "bench" / "post.lua"), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True, env={"BODY": str(PAYLOAD)},
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return rate, f"mean latency {latency.group(1) if latency else '?'}, {errors.group(1) if errors else 0} non-2xx"


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
    parser.add_argument("--seconds", type=int, default=10, help="with wrk: how long each run lasts")
    parser.add_argument("--python-client", action="store_true", help="load from aiohttp even if wrk is there")
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
            use_wrk = shutil.which("wrk") is not None and not args.python_client
            print(f"load: {'wrk' if use_wrk else 'aiohttp client'}, concurrency {args.concurrency}, payload "
                  f"{PAYLOAD.name} ({len(body)} bytes)")
            for name, port in (("bare aiohttp", bare_port), ("amtriage", amtriage_port)):
                url = f"http://127.0.0.1:{port}/webhook"
                await load(url, body, 200, args.concurrency)  # warm up
                if use_wrk:
                    results[name], detail = wrk(url, args.seconds, args.concurrency)
                else:
                    seconds, failures = await load(url, body, args.requests, args.concurrency)
                    results[name], detail = args.requests / seconds, f"{failures} non-200"
                print(f"{name:>14}: {results[name]:8.0f} req/s  ({detail})")
            print(f"{'ratio':>14}: {results['amtriage'] / results['bare aiohttp']:8.2f}x of bare aiohttp "
                  "(durable group-committed write, delivery running)")
            async with aiohttp.ClientSession() as session, session.get(
                    f"http://127.0.0.1:{amtriage_port}/api/v1/status") as resp:
                status = await resp.json()
            print(f"{'after the run':>14}: outbox depth {status['outbox']['depth']}, "
                  f"delivered {status['receivers']['sink']['delivered']:.0f}")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-bare":
        bare_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
