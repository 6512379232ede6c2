"""Pure functions of the event source multicluster.gitops.capi_clusters: kubeconfig checks, states, event diffs."""
from __future__ import annotations

import base64
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SOURCE = runpy.run_path(str(ROOT / "extensions" / "eda" / "plugins" / "event_source" / "capi_clusters.py"))
TOKEN = "s3cr3t-token-value"


def secret(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        value = yaml.safe_dump(value)
    if isinstance(value, str):
        value = base64.b64encode(value.encode()).decode()
    return {"metadata": {"name": "c-kubeconfig", "namespace": "ns"}, "data": {"value": value} if value else {}}


GOOD = {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "w", "user": "u"}}],
        "clusters": [{"name": "w", "cluster": {"server": "https://w:6443"}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}]}


@pytest.mark.parametrize("value, problem", [
    (GOOD, None),
    (None, "has no data.value"),
    ("clusters: [unterminated\n  token: " + TOKEN, "does not hold a YAML kubeconfig"),
    ("just a string", "is not a mapping"),
    ({**GOOD, "current-context": "other"}, "has no current-context"),
    ({**GOOD, "clusters": [{"name": "w", "cluster": {}}]}, "names no cluster with a server URL"),
])
def test_kubeconfig_problem_names_the_defect_never_the_content(value: Any, problem: str | None) -> None:
    found = SOURCE["kubeconfig_problem"](secret(value))
    if problem is None:
        assert found is None
    else:
        assert problem in found and TOKEN not in found


def state(name: str, st: str, fingerprint: str | None = "a", reason: str | None = None) -> Any:
    return SOURCE["ClusterState"](namespace="ns", name=name, state=st, phase="Provisioned", reason=reason, oke=False,
                                  credential_mode=None, fingerprint=fingerprint)


@pytest.mark.parametrize("before, after, expected", [
    ({}, {"x": state("x", "ready")}, {"cluster_ready": ["x"]}),
    ({"x": state("x", "pending")}, {"x": state("x", "ready")}, {"cluster_ready": ["x"]}),
    ({"x": state("x", "ready")}, {"x": state("x", "ready")}, {}),
    ({"x": state("x", "ready", "a")}, {"x": state("x", "ready", "b")}, {"kubeconfig_rotated": ["x"]}),
    ({"x": state("x", "pending")}, {"x": state("x", "failed", reason="r1")}, {"cluster_failed": ["x"]}),
    ({"x": state("x", "failed", reason="r1")}, {"x": state("x", "failed", reason="r1")}, {}),
    ({"x": state("x", "failed", reason="r1")}, {"x": state("x", "failed", reason="r2")}, {"cluster_failed": ["x"]}),
    ({"x": state("x", "ready")}, {"x": state("x", "deleting")}, {"cluster_deleted": ["x"]}),
    ({"x": state("x", "deleting")}, {}, {}),
    ({"x": state("x", "ready")}, {}, {"cluster_deleted": ["x"]}),
    ({"x": state("x", "pending")}, {"x": state("x", "pending")}, {}),
])
def test_diff_reports_each_change_once(before: dict[str, Any], after: dict[str, Any],
                                       expected: dict[str, list[str]]) -> None:
    out = SOURCE["diff"](before, after)
    assert {k: [c["name"] for c in v] for k, v in out.items() if v} == expected


def test_ready_needs_the_kubeconfig_secret_and_a_usable_one() -> None:
    cluster = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
               "metadata": {"name": "c", "namespace": "ns"}, "spec": {},
               "status": {"phase": "Provisioned",
                          "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True}}}
    kubeconfig = SOURCE["_Kubeconfig"]
    classify = SOURCE["classify"]
    assert classify(cluster, None).state == "pending"
    assert classify(cluster, kubeconfig("f", None)).state == "ready"
    broken = classify(cluster, kubeconfig("f", "does not hold a YAML kubeconfig in data.value"))
    assert broken.state == "failed" and broken.reason.startswith("kubeconfig Secret ns/c-kubeconfig ")
