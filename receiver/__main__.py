"""The command line: `amtriage serve | check-config | classify | outbox`.

    amtriage serve --config config/amtriage.yaml
    amtriage check-config config/amtriage.yaml        # exit 0, or every error by field path and exit 1
    amtriage classify payload.json                    # or - for stdin: the enriched payload as JSON
    amtriage outbox list|replay|purge [--receiver R] [--id ID]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from receiver import alerts
from receiver.config import MODES, Config, load
from receiver.errors import AmtriageError, ConfigError, PayloadError

DEFAULT_CONFIG = "config/amtriage.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(_config_errors(exc), file=sys.stderr)
        return 1
    except AmtriageError as exc:
        print(f"amtriage: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amtriage", description="Classify and forward Alertmanager notifications.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the webhook receiver")
    serve.add_argument("--config", default=DEFAULT_CONFIG)
    serve.add_argument("--log-format", choices=("json", "text"), default="json")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    serve.set_defaults(run=_serve)
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(run=_check_config)
    classify = sub.add_parser("classify", help="enrich a payload offline and print it")
    classify.add_argument("file", help="an Alertmanager webhook payload, or - for stdin")
    classify.add_argument("--config", default=None, help=f"default: {DEFAULT_CONFIG} if present")
    classify.add_argument("--mode", choices=MODES, default="enriched")
    classify.set_defaults(run=_classify)
    outbox = sub.add_parser("outbox", help="inspect the outbox; replay or purge dead letters")
    outbox.add_argument("action", choices=("list", "replay", "purge"))
    outbox.add_argument("--config", default=DEFAULT_CONFIG)
    outbox.add_argument("--receiver")
    outbox.add_argument("--id", type=int, action="append", default=[])
    outbox.add_argument("--all", action="store_true", help="list: pending jobs too, not only dead letters")
    outbox.set_defaults(run=_outbox)
    return parser


def _config_errors(exc: ConfigError) -> str:
    return "\n".join(f"  - {e}" for e in ["config is invalid:", *exc.errors]).replace("  - config", "config", 1)


def _load(path: str) -> Config:
    return load(path, os.environ)


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from receiver import logs
    from receiver.app import build_app, load_classifier

    logs.setup(args.log_format, args.log_level)
    config = _load(args.config)
    load_classifier(config)
    app = build_app(config, reload_from=lambda: _load(args.config), handle_sighup=True)
    web.run_app(app, host=config.server.host, port=config.server.port, print=None, access_log=None,
                shutdown_timeout=10.0)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from receiver.app import load_classifier

    config = _load(args.file)
    load_classifier(config)
    print(f"{args.file}: ok ({len(config.receivers)} receiver(s), {len(config.routes)} route(s), "
          f"mode {config.enrichment.mode})")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from receiver.config import loads

    path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    config = _load(path) if path else loads("receivers: [{name: stdout, url: 'http://localhost/'}]", {})
    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        notification = alerts.parse(body)
    except PayloadError as exc:
        print(f"amtriage: {args.file}: {exc}", file=sys.stderr)
        return 1
    enriched = asyncio.run(_enrich_once(config, notification, args.mode))
    sys.stdout.buffer.write(orjson.dumps(enriched.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return 0


async def _enrich_once(config: Config, notification: alerts.Notification, mode: str) -> alerts.Notification:
    """Enrich as `serve` would: with the LLM when the config enables it, the rules for what it cannot do."""
    import aiohttp
    from prometheus_client import CollectorRegistry

    from receiver.app import LLMState, build_enricher, build_llm
    from receiver.metrics import Metrics

    metrics = Metrics.create(CollectorRegistry())
    enricher = build_enricher(config, metrics)
    async with aiohttp.ClientSession() as session:
        enricher.llm = build_llm(config, session, metrics, LLMState.create(config))
        return await enricher.enrich(notification, mode)


def _outbox(args: argparse.Namespace) -> int:
    from receiver.outbox.sqlite import SqliteOutbox

    config = _load(args.config)

    async def run() -> int:
        outbox = SqliteOutbox(config.outbox, exclusive=False)
        await outbox.open()
        try:
            if args.action == "list":
                for job in await outbox.jobs(None if args.all else "dead", limit=1000):
                    print(orjson.dumps({"id": job.id, "state": job.state, "receiver": job.receiver,
                                        "attempts": job.attempts, "error": job.last_error}).decode())
                return 0
            action = outbox.replay if args.action == "replay" else outbox.purge
            count = await action(receiver=args.receiver, ids=args.id)
            print(f"{args.action}: {count} dead letter(s)")
            return 0
        finally:
            await outbox.close()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
