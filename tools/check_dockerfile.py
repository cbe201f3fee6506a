#!/usr/bin/env python3
"""Static checks of the Dockerfile (no Docker engine needed), and that it agrees with the chart.

Docker cannot run on the CI machines, so the image is never built there. This asserts what can
be read from the files: two stages (builder, then a slim final stage), the final stage installs
prebuilt wheels only and no compiler, runs as the non-root user 10001, and its port, config path,
entrypoint and user are the ones the chart's values and deployment use.

    check_dockerfile.py [Dockerfile] [helm/amtriage]

Prints each finding and `dockerfile check: N facts checked, M wrong`; exit 1 when one is wrong.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|cmake|cargo|rustc|[a-z0-9.+-]+-dev)\b")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for line in logical:
        word, _, rest = line.strip().partition(" ")
        pairs.append((word.upper(), rest.strip()))
    return pairs


def stages(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    args: dict[str, str] = {}
    found: list[list[tuple[str, str]]] = []
    for word, rest in pairs:
        if word == "FROM":
            found.append([(word, rest)])
        elif found:
            found[-1].append((word, rest))
        elif word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    return args, found


def image_of(from_args: str, args: dict[str, str]) -> str:
    image = from_args.split()[0]
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)


def main() -> int:
    dockerfile = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "Dockerfile"
    chart = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "helm/amtriage"
    values = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
    deployment = (chart / "templates/deployment.yaml").read_text(encoding="utf-8")
    chart_meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    project_version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    helpers = (chart / "templates/_helpers.tpl").read_text(encoding="utf-8")
    args, found = stages(instructions(dockerfile.read_text(encoding="utf-8")))
    final = found[-1] if found else []
    first = found[0] if found else []

    def last(word: str) -> str | None:
        hits = [rest for w, rest in final if w == word]
        return hits[-1] if hits else None

    def exec_form(word: str) -> list[str] | None:
        value = last(word)
        try:
            return json.loads(value) if value else None
        except json.JSONDecodeError:
            return None

    final_runs = " ".join(rest for w, rest in final if w == "RUN")
    user = (last("USER") or "").split(":")[0]
    sec = values["securityContext"]
    port_match = re.search(r'define "amtriage.port" -}}(\d+){{', helpers)
    chart_port = port_match.group(1) if port_match else None
    facts = [
        ("multi-stage: a builder stage and a final stage", len(found) >= 2),
        ("builder stage is python:3.11-slim, named", bool(first) and image_of(first[0][1], args)
         == "python:3.11-slim" and " AS " in first[0][1].upper()),
        ("builder builds wheels (pip wheel)", any(w == "RUN" and "pip wheel" in r for w, r in first)),
        ("final stage is python:3.11-slim", bool(final) and image_of(final[0][1], args) == "python:3.11-slim"),
        ("final stage installs wheels only (pip install --no-index from the builder's wheels)",
         "pip install" in final_runs and "--no-index" in final_runs and "from=builder" in final_runs),
        ("final stage installs no compiler or -dev package",
         not re.search(r"(apt-get|apt|apk|yum|dnf)\s+(-\S+\s+)*(install|add)\b", final_runs)
         or not BUILD_TOOLS.search(final_runs)),
        ("final stage copies no source tree (only config/)",
         all(not re.search(r"(^|\s)(\.|receiver/?)\s", r + " ") for w, r in final if w == "COPY")),
        ("final stage USER is the numeric non-root uid 10001", user == "10001"),
        ("the chart runs as that uid", str(sec.get("runAsUser")) == user
         and str(values["podSecurityContext"].get("runAsUser")) == user and sec.get("runAsNonRoot") is True),
        ("WORKDIR /app", last("WORKDIR") == "/app"),
        ("config/ (default config, classifier rules) is copied", any(
            w == "COPY" and r.split()[0].rstrip("/") == "config" for w, r in final)),
        ("EXPOSE 9095, the chart's container port", last("EXPOSE") == "9095" and chart_port == "9095"),
        ('ENTRYPOINT ["python", "-m", "receiver"]', exec_form("ENTRYPOINT") == ["python", "-m", "receiver"]),
        ('CMD ["serve", "--config", "/etc/amtriage/amtriage.yaml"]',
         exec_form("CMD") == ["serve", "--config", "/etc/amtriage/amtriage.yaml"]),
        ("the chart's args use the same config path", 'define "amtriage.configDir" -}}/etc/amtriage{{' in helpers
         and "/amtriage.yaml" in deployment and "- serve" in deployment),
        ("HEALTHCHECK probes /healthz", "/healthz" in (last("HEALTHCHECK") or "")),
        ("the chart's default image is the one this Dockerfile documents",
         values["image"]["repository"] in dockerfile.read_text(encoding="utf-8")),
        ("the chart's appVersion (its default image tag) is the project's version in pyproject.toml",
         str(chart_meta.get("appVersion")) == project_version),
        (".dockerignore keeps local state out (allow-list)",
         (ROOT / ".dockerignore").is_file() and (ROOT / ".dockerignore").read_text().splitlines().count("**") == 1),
    ]
    wrong = 0
    for fact, ok in facts:
        print(f"{'ok   ' if ok else 'WRONG'} {dockerfile.name}: {fact}")
        wrong += not ok
    print(f"dockerfile check: {len(facts)} facts checked, {wrong} wrong")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
