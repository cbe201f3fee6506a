"""The rule-based classifier: matching, severity, templates, validation, the shipped rules, real payloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver import alerts
from receiver.alerts import Alert
from receiver.classifier import SEVERITIES, Classification, Rule, RuleClassifier
from receiver.errors import ConfigError
from receiver.matchers import parse_matcher

SHIPPED = Path(__file__).parent.parent / "config" / "classifier.yaml"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "alertmanager"
FIXTURE_FILES = sorted(p for p in FIXTURES.glob("[0-9][0-9]-*.json") if not p.name.endswith(".raw-body.json"))

DEFAULT = """
default:
  severity: warning
  category: other
  confidence: 0.3
  summary: '{{ $labels.alertname }}: {{ $annotations.summary }}'
"""


def make_alert(labels: dict[str, str], annotations: dict[str, str] | None = None, status: str = "firing") -> Alert:
    return Alert(status=status, labels=labels, annotations=annotations or {}, starts_at="2026-01-01T00:00:00Z")


def one_rule(
    summary: str, recommendations: tuple[str, ...] = (), *, severity: str = "warning", alertname: str = "X"
) -> RuleClassifier:
    """A classifier with one rule for `alertname` (category errors) in front of the builtin default."""
    matchers = (parse_matcher(f'alertname="{alertname}"'),)
    rule = Rule("r", matchers, severity, "errors", 0.5, summary, recommendations)
    return RuleClassifier([rule], RuleClassifier.builtin().default)


@pytest.fixture(scope="module")
def shipped() -> RuleClassifier:
    return RuleClassifier.from_file(SHIPPED)


# --- matching ---------------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    """Two rules match the same alert: the one listed first decides, and names itself in `model`."""
    text = """
rules:
  - {name: first, match: ['alertname=~"Node.*"'], severity: critical, category: availability,
     confidence: 0.9, summary: first}
  - {name: second, match: ['alertname="NodeDown"'], severity: info, category: other,
     confidence: 0.1, summary: second}
""" + DEFAULT
    result = RuleClassifier.from_yaml(text).classify(make_alert({"alertname": "NodeDown"}))
    assert (result.model, result.category, result.summary) == ("rules/first", "availability", "first")
    assert result.source == "rules"


def test_rule_matches_only_when_all_matchers_match() -> None:
    """A rule with two matchers is skipped when one of them fails."""
    text = """
rules:
  - {name: prod-down, match: ['alertname="NodeDown"', 'env="prod"'], severity: critical,
     category: availability, confidence: 0.9, summary: prod}
""" + DEFAULT
    classifier = RuleClassifier.from_yaml(text)
    assert classifier.classify(make_alert({"alertname": "NodeDown", "env": "prod"})).model == "rules/prod-down"
    assert classifier.classify(make_alert({"alertname": "NodeDown", "env": "dev"})).model == "rules/default"


def test_default_rule_applies_when_nothing_matches() -> None:
    """No rule matches: the YAML's default rule answers, as rules/default."""
    text = """
rules:
  - {name: node, match: ['alertname="NodeDown"'], severity: critical, category: availability,
     confidence: 0.9, summary: down}
""" + DEFAULT
    result = RuleClassifier.from_yaml(text).classify(make_alert({"alertname": "Other"}, {"summary": "it broke"}))
    assert result == Classification("warning", "other", 0.3, "Other: it broke", (), "rules", "rules/default")


def test_matchers_see_annotations_and_labels_win_on_a_clash() -> None:
    """Matchers see annotations too; when a label and an annotation share a name, the label counts."""
    text = """
rules:
  - {name: by-annotation, match: ['runbook_url=~"https://.*"'], severity: info, category: other,
     confidence: 0.5, summary: annotated}
  - {name: by-team, match: ['team="db"'], severity: info, category: database, confidence: 0.5, summary: db}
""" + DEFAULT
    classifier = RuleClassifier.from_yaml(text)
    with_runbook = make_alert({"alertname": "A"}, {"runbook_url": "https://r.example/a"})
    assert classifier.classify(with_runbook).model == "rules/by-annotation"
    clash = make_alert({"alertname": "A", "team": "web"}, {"team": "db"})
    assert classifier.classify(clash).model == "rules/default"


def test_builtin_has_only_a_default() -> None:
    """builtin() needs no file: no rules, and its default repeats the alert's own summary."""
    classifier = RuleClassifier.builtin()
    assert classifier.rules == ()
    result = classifier.classify(make_alert({"alertname": "Odd"}, {"summary": "odd thing"}))
    assert (result.model, result.category, result.summary) == ("rules/default", "other", "Odd: odd thing")


# --- severity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        *[(word, "critical") for word in ("critical", "page", "high", "error", "emergency", "fatal")],
        *[(word, "warning") for word in ("warning", "warn", "medium", "minor")],
        *[(word, "info") for word in ("info", "informational", "low", "none", "notice")],
        ("CRITICAL", "critical"),
        (" Warn ", "warning"),
    ],
)
def test_severity_label_sets_severity(label: str, expected: str) -> None:
    """An alert's own severity label (any known synonym, any case) overrides the rule's severity."""
    classifier = one_rule("s", severity="info" if expected != "info" else "critical")
    result = classifier.classify(make_alert({"alertname": "X", "severity": label}))
    assert result.severity == expected
    assert result.category == "errors"


@pytest.mark.parametrize("label", ["P1", "sev2", "urgent", ""])
def test_unknown_severity_label_is_ignored(label: str) -> None:
    """A severity label that is not a known word leaves the rule's severity in place."""
    result = one_rule("s", severity="critical").classify(make_alert({"alertname": "X", "severity": label}))
    assert result.severity == "critical"


def test_rule_can_ignore_the_severity_label() -> None:
    """respect_severity_label: false keeps the rule's severity even when the label says otherwise."""
    text = """
rules:
  - {name: hb, match: ['alertname="Heartbeat"'], severity: info, category: monitoring, confidence: 1,
     summary: hb, respect_severity_label: false}
""" + DEFAULT
    result = RuleClassifier.from_yaml(text).classify(make_alert({"alertname": "Heartbeat", "severity": "critical"}))
    assert result.severity == "info"


# --- templates --------------------------------------------------------------------------------


def test_template_renders_labels_annotations_and_status() -> None:
    """$labels, $annotations and $status are replaced, with or without spaces inside the braces."""
    classifier = one_rule("{{$labels.instance}} on {{ $labels.job }}: {{  $annotations.summary  }} [{{ $status }}]")
    alert = make_alert({"alertname": "X", "instance": "db-1:9100", "job": "node"}, {"summary": "disk 95% full"})
    assert classifier.classify(alert).summary == "db-1:9100 on node: disk 95% full [firing]"


def test_missing_values_render_empty_and_whitespace_collapses() -> None:
    """A missing label renders as "", runs of whitespace and newlines become one space, ends are stripped."""
    classifier = one_rule("  {{ $labels.a }}   Disk {{ $labels.missing }}  full\n\ton\t{{ $labels.b }}  ")
    alert = make_alert({"alertname": "X", "a": "A", "b": "multi\nline   value"})
    assert classifier.classify(alert).summary == "A Disk full on multi line value"


def test_missing_values_leave_no_debris() -> None:
    """Brackets, slashes and separators left empty by missing values go; the rule's own text stays."""
    classifier = one_rule("{{ $labels.ns }}: Pod {{ $labels.ns }}/{{ $labels.pod }} ({{ $labels.c }}) failed")
    assert classifier.classify(make_alert({"alertname": "X"})).summary == "Pod failed"
    assert classifier.classify(make_alert({"alertname": "X", "pod": "p"})).summary == "Pod p failed"
    verbatim = one_rule("jq '.items[] | {name}' () {{ $labels.x }}")
    assert verbatim.classify(make_alert({"alertname": "X"})).summary == "jq '.items[] | {name}' ()"


def test_summary_is_capped_at_200_chars_deterministically() -> None:
    """A long summary is cut to 199 characters plus "…", the same way every time; 200 exactly is kept."""
    classifier = one_rule("{{ $annotations.summary }}")
    long_alert = make_alert({"alertname": "X"}, {"summary": "word " * 100})
    first = classifier.classify(long_alert).summary
    assert len(first) == 200
    assert first.endswith("…")
    assert first == classifier.classify(long_alert).summary
    exact = "x" * 200
    assert classifier.classify(make_alert({"alertname": "X"}, {"summary": exact})).summary == exact


def test_values_are_never_expanded_again() -> None:
    """A label value that looks like a template is inserted literally (no second pass, no eval)."""
    classifier = one_rule("{{ $labels.evil }}")
    alert = make_alert({"alertname": "X", "evil": "{{ $labels.secret }} {0.__class__}", "secret": "s3cr3t"})
    assert classifier.classify(alert).summary == "{{ $labels.secret }} {0.__class__}"


def test_resolved_summary_is_prefixed_unless_template_uses_status() -> None:
    """Resolved alerts read "Resolved: …"; a template that shows $status itself is left alone."""
    plain = one_rule("{{ $labels.alertname }} on {{ $labels.instance }}")
    resolved = make_alert({"alertname": "X", "instance": "h1"}, status="resolved")
    assert plain.classify(resolved).summary == "Resolved: X on h1"
    assert plain.classify(make_alert({"alertname": "X", "instance": "h1"})).summary == "X on h1"
    with_status = one_rule("{{ $labels.alertname }} is {{ $status }}")
    assert with_status.classify(resolved).summary == "X is resolved"


def test_empty_summary_falls_back_to_alertname() -> None:
    """A summary whose values are all missing becomes the alertname rather than an empty string."""
    assert one_rule("{{ $annotations.summary }}").classify(make_alert({"alertname": "X"})).summary == "X"


def test_recommendations_render_and_skip_the_ones_missing_a_value() -> None:
    """Recommendations are rendered; one that needs a label the alert lacks is left out, order kept."""
    classifier = one_rule(
        "s",
        (
            "kubectl -n {{ $labels.namespace }} describe pod {{ $labels.pod }}",
            "openssl s_client -connect {{ $labels.instance }}",
            "Runbook: {{ $annotations.runbook_url }}",
            "Check   the\nlogs",
        ),
    )
    alert = make_alert({"alertname": "X", "namespace": "shop", "pod": "cart-1"}, {"runbook_url": "https://r/x"})
    assert classifier.classify(alert).recommendations == (
        "kubectl -n shop describe pod cart-1",
        "Runbook: https://r/x",
        "Check the logs",
    )


# --- validation -------------------------------------------------------------------------------


def test_every_validation_error_is_reported_at_once_with_its_path() -> None:
    """One file with many mistakes gives one ConfigError that lists every one of them by field path."""
    text = """
rules:
  - name: ok
    match: ['alertname="A"', 'not a matcher', 'x=~"("', 7]
    severity: urgent
    category: ""
    confidence: 1.5
    summary: '{{ $value }} on {{ $labels.instance }}'
    recommendations: ['fine {{ $labels.a }}', '{{ .Labels.pod }}', 3]
    colour: red
  - name: ok
    match: []
    severity: info
    category: other
    confidence: true
    summary: 'unclosed {{ $labels.x'
    recommendations: [a, b, c, d, e, f]
    respect_severity_label: maybe
  - just a string
  - {severity: info, category: other, confidence: 0.5, summary: s, match: 'alertname="A"'}
default:
  name: default
  severity: warning
  category: other
  summary: s
extra: 1
"""
    with pytest.raises(ConfigError) as caught:
        RuleClassifier.from_yaml(text)
    expected = [
        "extra",
        "rules[0].colour",
        "rules[0].severity",
        "rules[0].category",
        "rules[0].confidence",
        "rules[0].summary",
        "rules[0].match[1]",
        "rules[0].match[2]",
        "rules[0].match[3]",
        "rules[0].recommendations[1]",
        "rules[0].recommendations[2]",
        "rules[1].name",
        "rules[1].match",
        "rules[1].confidence",
        "rules[1].summary",
        "rules[1].recommendations",
        "rules[1].respect_severity_label",
        "rules[2]",
        "rules[3].name",
        "rules[3].match",
        "default.name",
        "default.confidence",
    ]
    errors = caught.value.errors
    for path in expected:
        assert any(e.startswith(f"{path}: ") for e in errors), f"{path} not reported in {errors}"
    assert "rules[0].severity: must be one of critical, warning, info (got 'urgent')" in errors
    assert any(e.startswith("rules[0].match[1]: not a matcher") for e in errors)
    assert any(e.startswith("rules[1].name: duplicate of rules[0].name") for e in errors)
    assert {e.split(": ")[0] for e in errors} == set(expected)


@pytest.mark.parametrize(
    ("template", "bad"),
    [("{{ $value }}", "$value"), ("{{ .Labels.instance }}", ".Labels"), ("{{ $labels }}", "$labels"),
     ("{{ $labels.a | toUpper }}", "toUpper"), ("{{ $externalLabels.x }}", "$externalLabels")],
)
def test_unknown_template_variable_is_a_config_error(template: str, bad: str) -> None:
    """Anything in {{ }} besides $labels.X, $annotations.X and $status fails at load, naming the field."""
    text = f"""
rules:
  - {{name: r, match: ['a="b"'], severity: info, category: other, confidence: 0.5, summary: '{template}',
     recommendations: ['ok', 'see {template}']}}
""" + DEFAULT
    with pytest.raises(ConfigError) as caught:
        RuleClassifier.from_yaml(text)
    paths = [e.split(": ")[0] for e in caught.value.errors]
    assert paths == ["rules[0].summary", "rules[0].recommendations[1]"]
    assert bad in caught.value.errors[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [\n  - {name: x", "classifier.yaml: not valid YAML"),
        ("- a list", "classifier.yaml: must be a mapping"),
        ("", "classifier.yaml: must be a mapping"),
        ("rules: []\n", "default: is required"),
        ("rules: {name: x}\n" + DEFAULT, "rules: must be a list"),
        ("rules:\n  - {name: default, match: ['a=\"b\"'], severity: info, category: c, confidence: 1, summary: s}\n"
         + DEFAULT, "rules[0].name: 'default' is reserved"),
        ("default: {severity: info, category: c, confidence: 1, summary: s, recommendations: 'one'}",
         "default.recommendations: must be a list of strings"),
    ],
)
def test_document_level_errors(text: str, message: str) -> None:
    """Broken YAML, a wrong top-level shape, no default or a reserved name are ConfigErrors too."""
    with pytest.raises(ConfigError) as caught:
        RuleClassifier.from_yaml(text)
    assert any(e.startswith(message) for e in caught.value.errors), caught.value.errors


def test_a_file_with_only_a_default_is_valid() -> None:
    """`rules` may be left out; every alert then gets the default."""
    classifier = RuleClassifier.from_yaml(DEFAULT)
    assert classifier.rules == ()
    assert classifier.default.confidence == 0.3


def test_from_file_reads_and_names_the_file_in_errors(tmp_path: Path) -> None:
    """from_file loads a YAML file; an unreadable file or bad YAML is a ConfigError naming the path."""
    good = tmp_path / "rules.yaml"
    good.write_text(DEFAULT, encoding="utf-8")
    assert RuleClassifier.from_file(good).classify(make_alert({"alertname": "A"})).model == "rules/default"
    with pytest.raises(ConfigError, match="cannot read"):
        RuleClassifier.from_file(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        RuleClassifier.from_file(bad)
    assert caught.value.errors[0].startswith(f"{bad}: not valid YAML")


# --- the shipped rule set -----------------------------------------------------------------------


def test_shipped_rules_load_and_stay_within_limits(shipped: RuleClassifier) -> None:
    """config/classifier.yaml is valid, has a family-sized rule set and at most 5 recommendations a rule."""
    assert 30 <= len(shipped.rules) <= 50
    for rule in (*shipped.rules, shipped.default):
        assert rule.severity in SEVERITIES
        assert 0 <= rule.confidence <= 1
        assert len(rule.recommendations) <= 5


SHIPPED_CASES = [
    ("NodeDown", "availability", "critical"),
    ("InstanceDown", "availability", "critical"),
    ("TargetDown", "availability", "critical"),
    ("HostHighCpuLoad", "resources", "warning"),
    ("HostOutOfMemory", "resources", "warning"),
    ("NodeMemoryHighUtilization", "resources", "warning"),
    ("NodeClockSkewDetected", "other", "warning"),
    ("NodeFilesystemSpaceFillingUp", "storage", "warning"),
    ("NodeFilesystemAlmostOutOfSpace", "storage", "warning"),
    ("HostOutOfDiskSpace", "storage", "warning"),
    ("NodeFilesystemFilesFillingUp", "storage", "warning"),
    ("NodeDiskIOSaturation", "storage", "warning"),
    ("KubePodCrashLooping", "kubernetes", "warning"),
    ("KubePodNotReady", "kubernetes", "warning"),
    ("KubeDeploymentReplicasMismatch", "kubernetes", "warning"),
    ("KubeStatefulSetReplicasMismatch", "kubernetes", "warning"),
    ("KubeJobFailed", "kubernetes", "warning"),
    ("KubeHpaMaxedOut", "resources", "warning"),
    ("KubeNodeNotReady", "kubernetes", "warning"),
    ("KubeletDown", "kubernetes", "critical"),
    ("KubeAPIDown", "kubernetes", "critical"),
    ("KubePersistentVolumeFillingUp", "storage", "warning"),
    ("KubeContainerWaiting", "kubernetes", "warning"),
    ("ContainerOOMKilled", "resources", "warning"),
    ("CPUThrottlingHigh", "resources", "warning"),
    ("ContainerHighMemoryUsage", "resources", "warning"),
    ("HighLatency", "latency", "warning"),
    ("HighErrorRate", "errors", "warning"),
    ("NginxHigh5xxErrors", "errors", "warning"),
    ("CheckoutErrorBudgetBurn", "errors", "critical"),
    ("BlackboxProbeFailed", "availability", "critical"),
    ("PostgresqlDown", "database", "critical"),
    ("PostgresqlReplicationLag", "database", "warning"),
    ("MysqlTooManyConnections", "database", "warning"),
    ("RedisDown", "database", "critical"),
    ("ElasticsearchClusterRed", "database", "critical"),
    ("SSLCertExpiringSoon", "certificates", "warning"),
    ("BlackboxSslCertificateWillExpireSoon", "certificates", "warning"),
    ("CertManagerCertExpirySoon", "certificates", "warning"),
    ("NodeNetworkReceiveErrs", "network", "warning"),
    ("NodeNetworkInterfaceFlapping", "network", "warning"),
    ("CoreDNSDown", "network", "warning"),
    ("PrometheusRuleFailures", "monitoring", "critical"),
    ("PrometheusNotConnectedToAlertmanagers", "monitoring", "critical"),
    ("PrometheusTSDBCompactionsFailing", "monitoring", "warning"),
    ("AlertmanagerClusterDown", "monitoring", "critical"),
    ("Watchdog", "monitoring", "info"),
    ("InfoInhibitor", "monitoring", "info"),
    ("RabbitmqDown", "availability", "critical"),
    ("SomethingNobodyKnows", "other", "warning"),
]


@pytest.mark.parametrize(("alertname", "category", "severity"), SHIPPED_CASES)
def test_shipped_rules_classify_common_alerts(
    shipped: RuleClassifier, alertname: str, category: str, severity: str
) -> None:
    """The alertnames of kube-prometheus, node-exporter, blackbox and DB exporters land in the right family."""
    result = shipped.classify(make_alert({"alertname": alertname, "instance": "host-1:9100"}))
    assert (result.category, result.severity) == (category, severity)
    assert result.summary
    assert len(result.recommendations) <= 5


def test_watchdog_stays_info_whatever_its_label(shipped: RuleClassifier) -> None:
    """Watchdog is info and says it is meant to fire, even when someone labelled it critical."""
    result = shipped.classify(make_alert({"alertname": "Watchdog", "severity": "critical"}))
    assert result.severity == "info"
    assert "always fire" in result.summary


def test_shipped_rules_respect_the_alerts_severity_label(shipped: RuleClassifier) -> None:
    """A warning-level family rule still reports critical when the alert is labelled critical."""
    result = shipped.classify(make_alert({"alertname": "KubePodCrashLooping", "severity": "critical"}))
    assert (result.category, result.severity) == ("kubernetes", "critical")


def test_shipped_rules_template_the_alerts_labels(shipped: RuleClassifier) -> None:
    """Summaries and commands carry this alert's namespace and pod."""
    result = shipped.classify(make_alert({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-1"}))
    assert result.summary == "Pod shop/cart-1 is crash-looping"
    assert any("kubectl -n shop logs cart-1" in r for r in result.recommendations)


# --- real Alertmanager payloads ---------------------------------------------------------------


def test_fixtures_are_present() -> None:
    """The recorded payloads are where the tests look for them (otherwise the next test proves nothing)."""
    assert len(FIXTURE_FILES) >= 10


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("which", ["shipped", "builtin"])
def test_every_fixture_alert_classifies(path: Path, which: str, shipped: RuleClassifier) -> None:
    """Each alert of each recorded payload gets a valid one-line classification from both rule sets."""
    classifier = shipped if which == "shipped" else RuleClassifier.builtin()
    for alert in alerts.parse(path.read_bytes()).alerts:
        result = classifier.classify(alert)
        assert result.severity in SEVERITIES
        assert 0 < len(result.summary) <= 200
        assert "\n" not in result.summary
        assert len(result.recommendations) <= 5
        assert all(r and "\n" not in r for r in result.recommendations)
        assert result.summary.startswith("Resolved: ") == (alert.status == "resolved")


def test_fixture_classifications_match_their_families(shipped: RuleClassifier) -> None:
    """The recorded DiskFull, HighLatency, burn-rate, crash-loop and TargetDown alerts land where expected."""
    got = {}
    for path in FIXTURE_FILES:
        for alert in alerts.parse(path.read_bytes()).alerts:
            result = shipped.classify(alert)
            got[alert.labels["alertname"]] = (result.category, result.severity)
    assert got["DiskFull"] == ("storage", "critical")
    assert got["HighLatency"] == ("latency", "warning")
    assert got["CheckoutErrorBudgetBurn"] == ("errors", "critical")
    assert got["PodCrashLooping"] == ("kubernetes", "warning")
    assert got["TargetDown"] == ("availability", "critical")
    assert got["AlwaysFiring"] == ("other", "info")


def test_unicode_labels_survive_into_the_summary() -> None:
    """UTF-8, quotes and <>& in labels and annotations reach the summary unchanged (fixture 06)."""
    alert = alerts.parse((FIXTURES / "06-firing-rich-labels-unicode.json").read_bytes()).alerts[0]
    classifier = one_rule(
        "{{ $labels.site }} {{ $labels.owner }} {{ $labels.quoted }} {{ $annotations.summary }}",
        alertname="CheckoutErrorBudgetBurn",
    )
    assert classifier.classify(alert).summary == (
        '東京-1 Zoë Ångström say "hi" & <bye> Checkout error budget burning 14.4x — 顧客に影響あり 🚨'
    )


def test_repeated_alert_is_classified_once_and_identically() -> None:
    """A repeat of the same alert (repeat_interval, HA pair) gets the remembered result, not a new one."""
    classifier = RuleClassifier.from_file(SHIPPED)
    [alert] = alerts.parse((FIXTURES / "01-firing-single.json").read_bytes()).alerts
    first = classifier.classify(alert)
    assert classifier.classify(alert) is first
    other = alert.with_labels({**alert.labels, "mountpoint": "/data"})
    assert classifier.classify(other) is not first
    assert classifier.classify(other).summary != first.summary
