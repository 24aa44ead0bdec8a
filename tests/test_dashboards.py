"""The Grafana dashboards and Prometheus alert rules in deploy/: every expression names only series
the service exports — checked against a scrape of a live worker after a scenario that makes each
of them exist (tests/helpers/scrape.py) — with labels those series carry; the rule files have the
shape Prometheus loads (no `promtool` here: parsed structurally); compose mounts both where the
provisioning and `rule_files` look."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from domain.policy import Policy
from infra.keys import KeyRing
from infra.settings import ROOT
from tests.helpers.scrape import Series, everything_exported

DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RULES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
# Prometheus's own series: `up` per scrape target
PROMETHEUS_OWN = {"up": {"job", "instance"}}
FUNCTIONS = {
    "sum", "max", "min", "avg", "count", "topk", "bottomk", "quantile", "rate", "irate",
    "increase", "delta", "idelta", "histogram_quantile", "absent", "absent_over_time",
    "max_over_time", "min_over_time", "avg_over_time", "clamp_min", "clamp_max", "vector",
    "label_values",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(
    r"""(?P<str>"(?:\\.|[^"\\])*")
      | (?P<brace>\{(?:"(?:\\.|[^"\\])*"|[^}"])*\})
      | (?P<range>\[[^\]]*\])
      | (?P<dur>\d+(?:ms|[smhdwy])\b)
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_:][\w:]*)
      | (?P<other>\S)""",
    re.VERBOSE,
)


@dataclass
class Expr:
    text: str
    metrics: set[str] = field(default_factory=set)
    selectors: list[tuple[str, set[str], dict[str, str]]] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)


def parse_promql(text: str) -> Expr:
    """Enough PromQL to name what an expression reads: metric names, the label keys (and
    equality values) of their selectors, grouping labels and functions."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text)]
    found = Expr(text)
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and value in GROUPING:
            if following[1] == "(":
                j = i + 2
                while tokens[j][1] != ")":
                    if tokens[j][0] == "ident":
                        found.grouping.add(tokens[j][1])
                    j += 1
                i = j
        elif kind == "ident" and (following[1] == "(" or following[1] in {"by", "without"}):
            found.functions.add(value)
        elif kind == "ident" and value not in KEYWORDS:
            found.metrics.add(value)
            matchers: dict[str, str] = {}
            keys: set[str] = set()
            if following[0] == "brace":
                for key, op, val in re.findall(
                    r'(\w+)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"', following[1]
                ):
                    keys.add(key)
                    if op == "=":
                        matchers[key] = val
                i += 1
            found.selectors.append((value, keys, matchers))
        i += 1
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # rows hold their panels


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every variable's query."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in _panels(board["panels"]):
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
        for var in board.get("templating", {}).get("list", []):
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            metric = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert metric, f"{path.name}: variable {var['name']}: {query}"
            found.append((f"{path.name}: ${var['name']}", f'{metric[1]}{{{metric[2]}=~".*"}}'))
    return found


def rules() -> list[dict[str, Any]]:
    groups = [g for path in RULES for g in yaml.safe_load(path.read_text())["groups"]]
    return [rule for g in groups for rule in g["rules"]]


def alert_exprs() -> list[tuple[str, str]]:
    return [(f"alert {r['alert']}", r["expr"]) for r in rules()]


def _jobs() -> set[str]:
    return {job["job_name"] for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]}


def test_the_parser_reads_what_an_expression_names() -> None:
    e = parse_promql(
        'histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_x_bucket{task_queue=~"$q",'
        ' a="b"}[$__rate_interval]))) > 2 and on (job) absent(up{job="w"} == 1) offset 5m'
    )
    assert e.metrics == {"temporal_x_bucket", "up"}
    assert e.grouping == {"le", "task_queue", "job"}
    assert e.functions == {"histogram_quantile", "sum", "rate", "absent"}
    assert ("temporal_x_bucket", {"task_queue", "a"}, {"a": "b"}) in e.selectors


@pytest.fixture(scope="module")
async def exported(engine: Engine, keyring: KeyRing, policy: Policy) -> dict[str, set[str]]:
    """Every series name a live worker (and codec server) exported, with its label keys."""
    series: Series = await everything_exported(engine, keyring, policy)
    names: dict[str, set[str]] = {}
    for name, pairs in series:
        names.setdefault(name, set()).update(k for k, _ in pairs)
    return names


async def test_every_expression_names_exported_series_and_their_labels(
    exported: dict[str, set[str]],
) -> None:
    known = {**exported, **PROMETHEUS_OWN}
    exprs = dashboard_exprs() + alert_exprs()
    assert len(exprs) > 30
    problems = []
    for where, text in exprs:
        e = parse_promql(text)
        if not e.metrics:
            problems.append(f"{where}: names no series: {text}")
        if unknown := e.functions - FUNCTIONS:
            problems.append(f"{where}: unknown functions {unknown}")
        for metric, keys, matchers in e.selectors:
            if metric not in known:
                problems.append(f"{where}: {metric} is not exported")
                continue
            if missing := keys - known[metric]:
                problems.append(f"{where}: {metric} has no label {missing}")
            if metric == "up" and matchers.get("job") not in _jobs():
                problems.append(f"{where}: no scrape job {matchers.get('job')}")
        labels = set().union(*(known.get(m, set()) for m in e.metrics))
        if missing := e.grouping - labels - {"instance", "job"}:
            problems.append(f"{where}: grouping by {missing}, which none of its series has")
    assert problems == []
    # what the dashboards are for, each on one: complaints, the SDK's worker health
    names = {m for _, text in exprs for m in parse_promql(text).metrics}
    for wanted in (
        "client_care_open_complaints", "client_care_complaint_deadline_events",
        "client_care_refused_commands_total", "client_care_plaintext_payloads_total",
        "temporal_workflow_task_execution_failed_total", "temporal_activity_execution_failed_total",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_worker_task_slots_available", "temporal_worker_task_slots_used",
    ):  # fmt: skip
        assert wanted in names, wanted


def test_no_expression_groups_or_filters_by_an_id() -> None:
    """A dashboard legend or an alert's labels would show it; workflow ids stay in Temporal."""
    for where, text in dashboard_exprs() + alert_exprs():
        e = parse_promql(text)
        keys = e.grouping | {k for _, ks, _ in e.selectors for k in ks}
        assert not keys & {"workflow_id", "run_id", "client_id", "complaint_id"}, where


def test_alert_rules_have_the_shape_prometheus_loads() -> None:
    assert RULES
    names = set()
    duration = re.compile(r"^(\d+(ms|[smhdwy]))+$")
    for path in RULES:
        doc = yaml.safe_load(path.read_text())
        assert set(doc) == {"groups"}, path
        groups = [g["name"] for g in doc["groups"]]
        assert len(groups) == len(set(groups)), path
        for group in doc["groups"]:
            assert set(group) <= {"name", "interval", "rules", "limit"}, group["name"]
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels",
                                     "annotations"}, rule  # fmt: skip
                assert re.fullmatch(r"[A-Za-z]\w*", str(rule["alert"])), rule
                assert rule["alert"] not in names, rule["alert"]
                names.add(rule["alert"])
                assert isinstance(rule["expr"], str) and rule["expr"].strip()
                assert _balanced(rule["expr"]), rule["alert"]
                if "for" in rule:
                    assert duration.match(str(rule["for"])), rule["alert"]
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"] and rule["annotations"]["description"]
                for text in rule["annotations"].values():
                    # templates name only labels the expression keeps
                    used = set(re.findall(r"\$labels\.(\w+)", text))
                    assert used <= parse_promql(rule["expr"]).grouping, (rule["alert"], used)
    for wanted in ("WorkflowTaskFailures", "WorkflowTaskScheduleToStartHigh",
                   "ComplaintDeadlineBreached", "ComplaintBreachesRising", "OutboxFailing",
                   "ClientCareWorkerDown", "PlaintextPayload"):  # fmt: skip
        assert wanted in names


def _balanced(text: str) -> bool:
    depth = 0
    for ch in re.sub(r'"(?:\\.|[^"\\])*"', "", text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_dashboards_are_grafana_dashboards_on_the_provisioned_datasource() -> None:
    assert {p.name for p in DASHBOARDS} == {"client-care.json", "temporal-sdk.json"}
    source = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] not in uids
        uids.add(board["uid"])
        assert board["title"] and board["schemaVersion"] >= 36
        ids = [p["id"] for p in _panels(board["panels"])]
        assert len(ids) == len(set(ids)), path.name
        for panel in _panels(board["panels"]):
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)) and refs, panel["title"]


def test_compose_mounts_the_dashboards_and_rules_where_they_are_read() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    def mounts(name: str) -> dict[str, str]:
        found = {}
        for volume in services[name]["volumes"]:
            host, inside, *_ = volume.split(":")
            found[inside] = host
        return found

    grafana = mounts("grafana")
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/client-care.yml").read_text()
    )["providers"][0]
    assert grafana["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert grafana[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    prometheus = mounts("prometheus")
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert prometheus["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    for path in RULES:
        inside = [
            f"{mount}/{path.relative_to(ROOT / host[2:]).as_posix()}"
            for mount, host in prometheus.items()
            if path.is_relative_to(ROOT / host[2:])
        ]
        assert any(fnmatch(i, g) for i in inside for g in config["rule_files"]), (
            f"{path.name} is not loaded by rule_files"
        )
        assert all(PurePosixPath(g).is_absolute() for g in config["rule_files"])
