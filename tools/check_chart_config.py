#!/usr/bin/env python3
"""Check the amtriage.yaml that the chart renders with amtriage's own `check-config`.

For each rendered file (output of `helm template`) this takes the ConfigMap's amtriage.yaml and
classifier.yaml, the chart's Secret, and the Deployment's literal env values, lays them out in a
temporary directory the way the pod sees them (/etc/amtriage/..., /app/config/classifier.yaml
from the repository), and runs `PYTHON -m receiver check-config` on it with that env. Keys of a
user-managed Secret (secrets.existingSecret) are not in the render: each file the config refers
to in /etc/amtriage/secrets is then given a dummy value.

    check_chart_config.py --python .venv/bin/python RENDERED.yaml ...

Exit 1 when a config is refused or a render holds no amtriage ConfigMap.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = "/etc/amtriage"
SECRETS_DIR = "/etc/amtriage/secrets"
OVERRIDES = re.compile(r"^(LLM_.*|ENRICHMENT_MODE|REDIS_URL)$")


def objects(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = [d for d in docs if d.get("kind") == kind]
    return found[0] if found else None


def lay_out(docs: list[dict[str, Any]], tmp: Path) -> tuple[Path, dict[str, str]]:
    """Write the pod's files under tmp; return the config path and the env to run with."""
    configmap = one(docs, "ConfigMap")
    if configmap is None or "amtriage.yaml" not in (configmap.get("data") or {}):
        raise SystemExit("no ConfigMap with amtriage.yaml in the render")
    files = dict(configmap["data"])
    secret = one(docs, "Secret")
    secrets = {k: base64.b64decode(v).decode() for k, v in ((secret or {}).get("data") or {}).items()}
    text = files["amtriage.yaml"]
    for ref in sorted(set(re.findall(re.escape(SECRETS_DIR) + r"/([-._a-zA-Z0-9]+)", text))):
        secrets.setdefault(ref, "dummy-from-existing-secret")
    (tmp / "secrets").mkdir()
    for key, value in secrets.items():
        (tmp / "secrets" / key).write_text(value, encoding="utf-8")
    for name, content in files.items():
        if name != "amtriage.yaml":
            (tmp / name).write_text(content, encoding="utf-8")
    text = text.replace(SECRETS_DIR + "/", f"{tmp}/secrets/").replace(CONFIG_DIR + "/", f"{tmp}/")
    text = text.replace("/app/config/", f"{ROOT}/config/")
    config = tmp / "amtriage.yaml"
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not OVERRIDES.match(k)}
    deployment = one(docs, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"] if deployment else []
    for var in containers[0].get("env") or [] if containers else []:
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif var.get("valueFrom", {}).get("secretKeyRef"):
            env[var["name"]] = "redis://redis-from-existing-secret:6379/0" if var["name"] == "REDIS_URL" else "x"
    return config, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv/bin/python"), help="the project's interpreter")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    failed = 0
    for path in args.files:
        with tempfile.TemporaryDirectory() as tmp:
            config, env = lay_out(objects(path), Path(tmp))
            run = subprocess.run([args.python, "-m", "receiver", "check-config", str(config)], cwd=ROOT, env=env,
                                 capture_output=True, text=True, check=False)
        output = (run.stdout + run.stderr).strip().replace(tmp, "<pod>")
        if run.returncode == 0:
            print(f"ok    {path}: {output}")
        else:
            failed += 1
            print(f"ERROR {path}: amtriage check-config refused the rendered config:\n{output}")
    print(f"config check: {len(args.files)} rendered configs, {failed} refused")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
