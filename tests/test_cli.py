"""The command line as users run it: check-config, classify, outbox."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from receiver.__main__ import main
from receiver.config import OutboxConfig
from receiver.outbox import Settle
from receiver.outbox.sqlite import SqliteOutbox
from tests.fakes import FIXTURES
from tests.proc import ROOT


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "receiver", *args], cwd=ROOT, input=stdin,
                          capture_output=True, timeout=60, check=False)


def test_classify_prints_unicode_intact() -> None:
    """`classify` on the rich-labels fixture keeps every label byte-for-byte and adds ai_* annotations."""
    fixture = FIXTURES / "06-firing-rich-labels-unicode.json"
    result = run("classify", str(fixture))
    assert result.returncode == 0, result.stderr
    out, sent = orjson.loads(result.stdout), orjson.loads(fixture.read_bytes())
    assert [a["labels"] for a in out["alerts"]] == [a["labels"] for a in sent["alerts"]]
    assert "東京".encode() in result.stdout  # raw UTF-8, not \\u escapes
    assert all(a["annotations"]["ai_severity"] in ("critical", "warning", "info") for a in out["alerts"])


def test_classify_reads_stdin_and_honours_mode() -> None:
    body = (FIXTURES / "02-firing-group-3-alerts.json").read_bytes()
    result = run("classify", "-", "--mode", "transparent_with_recommendations", stdin=body)
    assert result.returncode == 0, result.stderr
    added = {k for a in orjson.loads(result.stdout)["alerts"] for k in a["annotations"] if k.startswith("ai_")}
    assert added == {"ai_summary", "ai_recommendations", "ai_source"}


def test_classify_rejects_a_bad_payload_with_the_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": "noon"}]}')
    assert main(["classify", str(bad)]) == 1
    assert "alerts[0].startsAt" in capsys.readouterr().err


def test_check_config_accepts_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config" / "amtriage.yaml")]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_config_lists_every_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("enrichment: {mode: bogus}\nreceivers:\n  - {name: a, url: ftp://x}\n  - {name: b}\n"
                   "server: {listen: nowhere}\n")
    result = run("check-config", str(cfg))
    assert result.returncode == 1
    err = result.stderr.decode()
    for path in ("enrichment.mode", "receivers[0].url", "receivers[1].url", "server.listen"):
        assert path in err


def test_check_config_reports_rules_file_errors_under_its_key(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: x, match: ['a=b'], severity: apocalyptic, category: c, confidence: 2,"
                     " summary: s}]\ndefault: {severity: info, category: other, confidence: 0.1, summary: s}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"classifier: {{rules_file: {rules}}}\nreceivers: [{{name: a, url: 'http://x/'}}]\n")
    result = run("check-config", str(cfg))
    assert result.returncode == 1
    assert "classifier.rules_file: rules[0].severity" in result.stderr.decode()


def test_check_config_on_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def _dead_letters(path: Path, receivers: list[str]) -> None:
    async def fill() -> None:
        box = SqliteOutbox(OutboxConfig(path=str(path)))
        await box.open()
        for name in receivers:
            await box.put(b"{}")
            [job] = await box.claim(1)
            await box.settle(job, [Settle.dead(name, b"{}", attempts=10, at=0, error="HTTP 400")])
        await box.close()

    asyncio.run(fill())


def test_outbox_list_replay_purge(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Dead letters are listed, replayed by receiver, and purged."""
    _dead_letters(tmp_path / "o.db", ["a", "b", "b"])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"outbox: {{path: {tmp_path / 'o.db'}}}\nreceivers: [{{name: a, url: 'http://x/'}}]\n")
    assert main(["outbox", "list", "--config", str(cfg)]) == 0
    listed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(j["receiver"], j["state"], j["error"]) for j in listed] == [
        ("a", "dead", "HTTP 400"), ("b", "dead", "HTTP 400"), ("b", "dead", "HTTP 400")]
    assert main(["outbox", "replay", "--config", str(cfg), "--receiver", "b"]) == 0
    assert "replay: 2 dead letter(s)" in capsys.readouterr().out
    assert main(["outbox", "purge", "--config", str(cfg)]) == 0
    assert "purge: 1 dead letter(s)" in capsys.readouterr().out
    assert main(["outbox", "list", "--all", "--config", str(cfg)]) == 0
    left = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(j["receiver"], j["state"], j["attempts"]) for j in left] == [("b", "pending", 0)] * 2
