"""The operators' HTTP API: status (JSON, and HTML at `/`), mode, dry-run classify, dead letters, reload.

Reads are open like Alertmanager's own status page; every change (mode, replay, purge, reload)
needs the same credentials as the webhook when auth is configured.

    GET  /api/v1/status            GET|PUT /api/v1/mode       POST /api/v1/classify
    GET  /api/v1/outbox[?state=pending|dead]                  POST /api/v1/outbox/replay|purge
    POST /-/reload                 GET /                      (the status as a page)
"""

from __future__ import annotations

import html
from typing import Any

import orjson
from aiohttp import web

from receiver import alerts
from receiver.config import MODES
from receiver.errors import OutboxError, PayloadError
from receiver.ingest import STATE, State, error, json_response


def _denied(request: web.Request) -> web.Response | None:
    if request.app[STATE].authorizer.allows(request.headers.get("Authorization")):
        return None
    return error(401, "unauthorized")


async def status_doc(state: State) -> dict[str, Any]:
    """Everything an operator asks first, as one JSON document (also behind the HTML page)."""
    try:
        stats = await state.outbox.stats()
        outbox: dict[str, Any] = {"depth": stats.depth, "oldest_age_seconds": round(stats.oldest_age, 3),
                                  "dead_letters": stats.dead, "dead_letters_by_receiver": dict(stats.dead_by_receiver)}
    except OutboxError as exc:
        outbox = {"error": str(exc)}
    registry = state.metrics.registry

    def sample(name: str, labels: dict[str, str]) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    receivers = {
        r.name: {
            "type": r.type,
            "delivered": sample("amtriage_notifications_total", {"receiver": r.name, "integration": r.type}),
            "failed_attempts": sample("amtriage_notification_requests_failed_total",
                                      {"receiver": r.name, "integration": r.type}),
            "dead_letters": outbox.get("dead_letters_by_receiver", {}).get(r.name, 0),
        }
        for r in state.config.receivers
    }
    return {
        "mode": state.enricher.mode,
        "llm": llm_doc(state),
        "outbox": outbox,
        "receivers": receivers,
        "config": {"source": state.config.source,
                   "last_reload_successful": bool(sample("amtriage_config_last_reload_successful", {}))},
    }


def llm_doc(state: State) -> dict[str, Any]:
    """Providers with their breaker state and stats, the budget spent and left, the cache's hit rate."""
    llm = state.enricher.llm
    providers = []
    now = llm.client.clock() if llm is not None else 0.0
    for slot in llm.client.order() if llm is not None else ():
        stats = slot.breaker.stats()
        providers.append({"name": slot.name, "type": slot.config.type, "model": slot.config.model,
                          "priority": slot.config.priority, "breaker": {
                              "state": str(stats.state), "consecutive_failures": stats.consecutive_failures,
                              "failures": stats.failures, "successes": stats.successes,
                              "slow_calls": stats.slow_calls, "failure_rate": round(stats.failure_rate, 4),
                              "blocked": stats.blocked_total,
                              "next_probe_in_seconds": _until(stats.next_probe_at, now)}})
    providers.sort(key=lambda p: (p["priority"], p["name"]))
    kept = state.llm_state
    budget = {period: {"spent_usd": round(kept.budget.spent(period), 6), "left_usd": kept.budget.remaining(period)}
              for period in ("daily", "monthly")} if kept is not None else {}
    return {"enabled": state.config.llm.enabled, "providers": providers, "budget": budget,
            "cache": kept.cache.stats() if kept is not None else {}}


def _until(at: float | None, now: float) -> float | None:
    return None if at is None else max(0.0, round(at - now, 3))


async def status(request: web.Request) -> web.Response:
    return json_response(await status_doc(request.app[STATE]))


async def status_page(request: web.Request) -> web.Response:
    doc = await status_doc(request.app[STATE])
    return web.Response(text=render_page(doc), content_type="text/html")


def render_page(doc: dict[str, Any]) -> str:
    """A small page for a person: the same facts as /api/v1/status, every value HTML-escaped."""

    def table(section: str, rows: list[list[Any]], head: list[str]) -> str:
        cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        empty = "" if rows else f'<p class="empty">No {html.escape(section.lower())}.</p>'
        return (f'<section id="{section.lower().replace(" ", "-")}"><h2>{html.escape(section)}</h2>'
                f"<table><tr>{header}</tr>{cells}</table>{empty}</section>")

    outbox = doc["outbox"]
    providers = [[p["name"], p["type"], p["model"], p["breaker"]["state"], p["breaker"]["failures"],
                  p["breaker"]["next_probe_in_seconds"] if p["breaker"]["next_probe_in_seconds"] is not None else "-"]
                 for p in doc["llm"]["providers"]]
    receivers = [[n, r["type"], int(r["delivered"]), int(r["failed_attempts"]), r["dead_letters"]]
                 for n, r in doc["receivers"].items()]
    return "".join([
        "<!doctype html><html><head><meta charset='utf-8'><title>amtriage</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>",
        f"<h1>amtriage</h1><p>Mode: <b id='mode'>{html.escape(doc['mode'])}</b> &middot; "
        f"LLM {'enabled' if doc['llm']['enabled'] else 'disabled'}</p>",
        table("Breakers", providers, ["provider", "type", "model", "breaker", "failures", "next probe (s)"]),
        table("Budget", [[period, b["spent_usd"], "no cap" if b["left_usd"] is None else b["left_usd"]]
                         for period, b in doc["llm"]["budget"].items()], ["period", "spent (USD)", "left (USD)"]),
        table("Cache", [[doc["llm"]["cache"].get(k, "-") for k in ("size", "hits", "misses", "hit_rate")]]
              if doc["llm"]["cache"] else [], ["entries", "hits", "misses", "hit rate"]),
        table("Outbox", [[outbox.get("depth", "?"), outbox.get("oldest_age_seconds", "?"),
                          outbox.get("dead_letters", "?")]], ["waiting", "oldest (s)", "dead letters"]),
        table("Receivers", receivers, ["receiver", "type", "delivered", "failed attempts", "dead letters"]),
        "<p><a href='/api/v1/status'>JSON</a> &middot; <a href='/metrics'>metrics</a></p></body></html>",
    ])


async def get_mode(request: web.Request) -> web.Response:
    return json_response({"mode": request.app[STATE].enricher.mode})


async def put_mode(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    try:
        mode = orjson.loads(await request.read()).get("mode")
    except (orjson.JSONDecodeError, AttributeError):
        return error(400, 'body must be {"mode": "..."}')
    if mode not in MODES:
        return error(400, f"mode: must be one of {', '.join(MODES)}")
    request.app[STATE].enricher.set_mode(mode)
    return json_response({"mode": mode})


async def classify(request: web.Request) -> web.Response:
    """Dry run: the enriched payload, forwarded nowhere."""
    if (denied := _denied(request)) is not None:
        return denied
    try:
        notification = alerts.parse(await request.read())
    except PayloadError as exc:
        return error(400, str(exc))
    except web.HTTPRequestEntityTooLarge:
        return error(413, "body is too large")
    mode = request.query.get("mode") or "enriched"
    if mode not in MODES:
        return error(400, f"mode: must be one of {', '.join(MODES)}")
    state = request.app[STATE]
    enrich = state.dry_run or state.enricher.enrich  # the LLM lives on delivery's loop: classify there
    enriched = await enrich(notification, mode)
    return web.Response(body=enriched.to_json(), content_type="application/json")


async def reset_breaker(request: web.Request) -> web.Response:
    """POST /api/v1/breakers/{provider}/reset: close a provider's breaker by hand."""
    if (denied := _denied(request)) is not None:
        return denied
    llm = request.app[STATE].enricher.llm
    slot = llm.client.by_name.get(request.match_info["provider"]) if llm is not None else None
    if slot is None:
        return error(404, "no such LLM provider")
    slot.breaker.reset()
    return json_response({"provider": slot.name, "state": str(slot.breaker.stats().state)})


async def outbox_list(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    state = request.query.get("state", "dead")
    if state not in ("dead", "pending", "all"):
        return error(400, "state: must be dead, pending or all")
    jobs = await request.app[STATE].outbox.jobs(None if state == "all" else state, limit=1000)
    return json_response({"jobs": [{"id": j.id, "state": j.state, "receiver": j.receiver, "attempts": j.attempts,
                                    "error": j.last_error} for j in jobs]})


async def outbox_change(request: web.Request) -> web.Response:
    """POST /api/v1/outbox/replay|purge with an optional {"receiver": "...", "ids": [...]}."""
    if (denied := _denied(request)) is not None:
        return denied
    raw = await request.read()
    try:
        doc = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return error(400, "body must be JSON")
    receiver, ids = doc.get("receiver"), doc.get("ids", [])
    if receiver is not None and not isinstance(receiver, str):
        return error(400, "receiver: must be a string")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return error(400, "ids: must be a list of integers")
    outbox = request.app[STATE].outbox
    action = outbox.replay if request.match_info["action"] == "replay" else outbox.purge
    return json_response({request.match_info["action"]: await action(receiver=receiver, ids=ids)})


async def reload(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    state = request.app[STATE]
    if state.reload is None:
        return error(400, "not serving from a config file")
    errors = await state.reload()
    if errors:
        return web.Response(status=400, body=orjson.dumps({"status": "error", "errors": errors}),
                            content_type="application/json")
    return json_response({"status": "reloaded"})


def add_routes(app: web.Application) -> None:
    app.add_routes([
        web.get("/", status_page),
        web.get("/api/v1/status", status),
        web.get("/api/v1/mode", get_mode),
        web.put("/api/v1/mode", put_mode),
        web.post("/api/v1/classify", classify),
        web.get("/api/v1/outbox", outbox_list),
        web.post("/api/v1/outbox/{action:replay|purge}", outbox_change),
        web.post("/api/v1/breakers/{provider}/reset", reset_breaker),
        web.post("/-/reload", reload),
    ])
