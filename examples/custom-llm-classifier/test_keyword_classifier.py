"""The example classifier on its own, and plugged into amtriage by its import path."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson

from receiver import alerts
from receiver.config import load
from receiver.llm import ProviderDeps, Request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "alertmanager" / "01-firing-single.json"
sys.path.insert(0, str(HERE))

from amtriage_keyword_classifier import KeywordProvider  # noqa: E402 - after the path above


def test_keyword_classifier_answers_in_the_model_schema() -> None:
    async def run() -> dict[str, object]:
        async with aiohttp.ClientSession() as session:
            provider = KeywordProvider({"critical_words": ["full"]}, ProviderDeps(session))
            request = Request(system="", user="", alerts=({"id": "a1", "labels": {"alertname": "DiskFull"},
                                                            "annotations": {"summary": "disk is 95% full"}},))
            reply = await provider.complete(request)
        return orjson.loads(reply.text)  # type: ignore[no-any-return]

    [answer] = asyncio.run(run())["alerts"]  # type: ignore[index]
    assert answer["id"] == "a1"
    assert answer["severity"] == "critical"


def test_plugged_into_amtriage_by_import_path(tmp_path: Path) -> None:
    """`amtriage classify` with the example config: the alert is classified by the class (ai_source llm)."""
    config = load(ROOT / "examples" / "custom-llm-classifier" / "amtriage.yaml", {})
    assert config.llm.providers[0].type == "custom"
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "classify", "--config", "examples/custom-llm-classifier/amtriage.yaml",
         str(FIXTURE)], cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    [alert] = alerts.parse(result.stdout).alerts
    assert alert.annotations["ai_source"] == "llm"
    assert alert.annotations["ai_model"] == "custom/keywords-v1"
    assert alert.annotations["ai_summary"] == "DiskFull on db-1:9100"


def test_a_class_that_cannot_be_imported_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("llm:\n  enabled: true\n  providers:\n    - {name: k, type: custom, class: nowhere:Nothing}\n"
                   "receivers: [{name: r, url: 'http://127.0.0.1:9/'}]\n")
    result = subprocess.run([sys.executable, "-m", "receiver", "check-config", str(cfg)], cwd=ROOT,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "llm.providers[0].class: cannot import nowhere:Nothing" in result.stderr.decode()
