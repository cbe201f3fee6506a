#!/usr/bin/env bash
# Check amtriage's own alerting rules (rules/amtriage.rules.yml):
#   1. promtool check rules      syntax, PromQL, templates
#   2. promtool test rules       the unit tests in rules/tests/*.yml
#   3. the same tests with the job renamed, as the Helm chart renames it (job="amtriage" is the
#      only place the job name appears)
#   4. coverage: every alert has a severity, summary, description and a runbook_url whose anchor
#      is a heading of rules/README.md, and is tested firing (with exp_labels and
#      exp_annotations) and quiet (exp_alerts: [])
# Installs Debian's `prometheus` package (which provides promtool) when promtool is missing and
# this runs as root. Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RULES=rules/amtriage.rules.yml
RUNBOOKS=rules/README.md
JOB_MATCHER='job="amtriage"'

die() { echo "check-rules: $*" >&2; exit 1; }

apt_install() {
  [ "$(id -u)" -eq 0 ] || die "$1 is missing; install it (apt-get install $2) or run as root"
  echo "check-rules: installing $2"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

command -v promtool >/dev/null 2>&1 || apt_install promtool prometheus
command -v promtool >/dev/null 2>&1 || die "promtool still missing after installing prometheus"
promtool --version 2>&1 | head -n 1

shopt -s nullglob
tests=(rules/tests/*.yml)
[ ${#tests[@]} -gt 0 ] || die "no unit tests in rules/tests/*.yml"

# 1 and 2
promtool check rules "$RULES"
promtool test rules "${tests[@]}"

# 3: rename the job in the rules and in the tests' series and expected labels
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tests"
sed "s/$JOB_MATCHER/job=\"renamed-amtriage\"/g" "$RULES" > "$tmp/amtriage.rules.yml"
for t in "${tests[@]}"; do
  sed -e "s/$JOB_MATCHER/job=\"renamed-amtriage\"/g" -e 's/^\( *\)job: amtriage$/\1job: renamed-amtriage/' \
    "$t" > "$tmp/tests/$(basename "$t")"
done
echo "check-rules: the same tests with $JOB_MATCHER renamed"
promtool test rules "$tmp"/tests/*.yml >"$tmp/renamed.log" 2>&1 || { cat "$tmp/renamed.log" >&2; die "the tests fail once the job is renamed"; }

# 4: a Python with PyYAML (the project's .venv, else the system's)
py=""
for candidate in .venv/bin/python python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    py=$candidate
    break
  fi
done
if [ -z "$py" ]; then
  apt_install python3-yaml python3-yaml
  py=python3
fi

"$py" - "$RULES" "$RUNBOOKS" "$JOB_MATCHER" "${tests[@]}" <<'PY'
import re
import sys

import yaml

rules_path, runbooks_path, job_matcher, *test_paths = sys.argv[1:]
errors = []

with open(runbooks_path, encoding="utf-8") as f:
    anchors = set()
    for line in f:
        m = re.match(r"#{1,6}\s+(.*?)\s*$", line)
        if m:  # GitHub's anchor: lower case, punctuation dropped, spaces to hyphens
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))

with open(rules_path, encoding="utf-8") as f:
    groups = yaml.safe_load(f)["groups"]
alerts = set()
for group in groups:
    for rule in group["rules"]:
        name = rule.get("alert")
        if name is None:
            continue
        alerts.add(name)
        if rule.get("labels", {}).get("severity") not in ("info", "warning", "critical"):
            errors.append(f"{name}: labels.severity must be info, warning or critical")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                errors.append(f"{name}: annotation {key} is missing")
        url = annotations.get("runbook_url", "")
        anchor = url.partition("#")[2]
        if anchor != name.lower():
            errors.append(f"{name}: runbook_url should end in #{name.lower()}, not {url!r}")
        elif anchor not in anchors:
            errors.append(f"{name}: no heading '{name}' in {runbooks_path} for {url}")
        for selector in re.findall(r"\{[^}]*\}", rule["expr"]):
            if job_matcher not in selector:
                errors.append(f"{name}: selector {selector} lacks {job_matcher}")

firing, quiet = set(), set()
for path in test_paths:
    with open(path, encoding="utf-8") as f:
        for group in yaml.safe_load(f).get("tests", []):
            for case in group.get("alert_rule_test", []):
                name = case["alertname"]
                if name not in alerts:
                    errors.append(f"{path}: test for unknown alert {name}")
                expected = case.get("exp_alerts") or []
                if not expected:
                    quiet.add(name)
                    continue
                firing.add(name)
                for alert in expected:
                    labels = alert.get("exp_labels") or {}
                    annotations = alert.get("exp_annotations") or {}
                    if "severity" not in labels:
                        errors.append(f"{path}: {name} at {case['eval_time']}: exp_labels without severity")
                    if not {"summary", "description", "runbook_url"} <= annotations.keys():
                        errors.append(f"{path}: {name} at {case['eval_time']}: exp_annotations must check "
                                      "summary, description and runbook_url")

for name in sorted(alerts):
    if name not in firing:
        errors.append(f"{name}: no test where it fires")
    if name not in quiet:
        errors.append(f"{name}: no test where it stays quiet (exp_alerts: [])")

if errors:
    print("\n".join(f"check-rules: {e}" for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"check-rules: {len(alerts)} alerts, each with a runbook and tested firing and quiet")
PY
