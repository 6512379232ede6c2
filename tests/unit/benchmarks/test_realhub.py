"""benchmarks/realhub.py: REST paths, counting from audit events, and the one-line refusal without engines."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import realhub
from benchmarks.realhub import AuditCounter, resource_path

B2 = "cluster.x-k8s.io/v1beta2"


def event(audit_id: str, verb: str, uri: str, *, stage: str = "ResponseComplete", resource: str | None = None,
          subresource: str | None = None) -> str:
    """One audit.k8s.io/v1 Event line as kube-apiserver v1.34 writes it at level Metadata (trimmed)."""
    doc: dict = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
                 "stage": stage, "requestURI": uri, "verb": verb, "user": {"username": realhub.CLIENT_USER},
                 "responseStatus": {"metadata": {}, "code": 200}}
    if resource:
        doc["objectRef"] = {"resource": resource, "namespace": "fleet", "apiVersion": "v1"}
        if subresource:
            doc["objectRef"]["subresource"] = subresource
    return json.dumps(doc)


@pytest.mark.parametrize(("args", "path"), [
    (("v1", "Namespace"), "/api/v1/namespaces"),
    (("v1", "Secret", "fleet"), "/api/v1/namespaces/fleet/secrets"),
    (("v1", "Secret", "fleet", "a-kubeconfig"), "/api/v1/namespaces/fleet/secrets/a-kubeconfig"),
    ((B2, "Cluster", "fleet", "wl-001", "status"), "/apis/cluster.x-k8s.io/v1beta2/namespaces/fleet/clusters/wl-001/status"),
])
def test_resource_paths(args: tuple, path: str) -> None:
    assert resource_path(*args) == path


def test_resource_path_refuses_what_it_cannot_place() -> None:
    with pytest.raises(ValueError, match="namespaced"):
        resource_path("v1", "Secret")
    with pytest.raises(ValueError, match="knows no apps/v1 Deployment"):
        resource_path("apps/v1", "Deployment", "fleet")


def test_audit_events_count_as_kubemu_counts_requests() -> None:
    lines = [
        event("1", "get", "/apis/cluster.x-k8s.io"),
        event("2", "list", "/apis/cluster.x-k8s.io/v1beta2/namespaces/fleet/clusters", resource="clusters"),
        event("3", "watch", "/api/v1/namespaces/fleet/secrets?watch=true", stage="ResponseStarted", resource="secrets"),
        event("4", "create", "/api/v1/namespaces/argocd/secrets", resource="secrets"),
        event("5", "patch", "/apis/cluster.x-k8s.io/v1beta2/namespaces/fleet/clusters/a/status", resource="clusters",
              subresource="status"),
        event("6", "deletecollection", "/api/v1/namespaces/argocd/secrets", resource="secrets"),
        event("7", "update", "/api/v1/namespaces/argocd/secrets/b", resource="secrets"),
        "",
    ]
    assert AuditCounter().count(lines) == Counter({
        ("GET", "/apis/cluster.x-k8s.io"): 1, ("GET", "clusters"): 1, ("GET", "secrets"): 1, ("POST", "secrets"): 1,
        ("PATCH", "clusters"): 1, ("DELETE", "secrets"): 1, ("PUT", "secrets"): 1})


def test_a_watch_counts_once_even_when_it_ends_in_a_later_window() -> None:
    counter = AuditCounter()
    first = counter.count([event("w", "watch", "/api/v1/secrets?watch=true", stage="ResponseStarted",
                                 resource="secrets")])
    later = counter.count([event("w", "watch", "/api/v1/secrets?watch=true", resource="secrets"),
                           event("g", "get", "/api/v1/namespaces/fleet/secrets/x", resource="secrets")])
    assert first == Counter({("GET", "secrets"): 1})
    assert later == Counter({("GET", "secrets"): 1})


def test_the_sentinel_is_not_counted() -> None:
    marker = "mcg-bench-sentinel=abc"
    counts = AuditCounter().count([event("1", "get", "/api"), event("2", "get", f"/version?{marker}")], skip=marker)
    assert counts == Counter({("GET", "/api"): 1})


def test_kubemu_alone_needs_no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realhub.build, "missing", lambda component: "not built")
    assert realhub.selected("kubemu") == ["kubemu"]


def test_the_real_server_without_binaries_exits_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realhub.build, "missing", lambda component: f"{component} not built (run the build)")
    with pytest.raises(SystemExit) as exc:
        realhub.selected("both")
    assert str(exc.value) == "--api-server both: kube not built (run the build)"


def test_the_real_server_without_the_cluster_crd_names_the_folder(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(realhub.build, "missing", lambda component: None)
    monkeypatch.setenv("MCG_ENGINE_CRD_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        realhub.selected("kube-apiserver")
    message = str(exc.value)
    assert "\n" not in message and str(tmp_path) in message and "MCG_ENGINE_CRD_DIR" in message
    (tmp_path / realhub.CLUSTER_CRD).write_text("{}\n")
    assert realhub.selected("kube-apiserver") == ["kube-apiserver"]
