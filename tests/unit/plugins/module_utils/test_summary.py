"""The platform summary: selector matching as Argo CD's cluster generator does it, rows, table, diagram."""
from __future__ import annotations

import base64

import pytest

from ansible_collections.multicluster.gitops.plugins.module_utils import _summary as s


@pytest.mark.parametrize("selector, labels, expected", [
    (None, {"env": "prod"}, True),
    ({}, {}, True),
    ({"matchLabels": {"env": "prod"}}, {"env": "prod", "region": "eu"}, True),
    ({"matchLabels": {"env": "prod"}}, {"env": "test"}, False),
    ({"matchLabels": {"env": "prod"}}, {}, False),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["test", "prod"]}]}, {"env": "test"}, True),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, {}, False),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, {}, True),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, {"env": "prod"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": "web"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "x"}, False),
    ({"matchLabels": {"env": "prod"}, "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu"]}]},
     {"env": "prod", "region": "us"}, False),
])
def test_selector_matches(selector, labels, expected):
    assert s.selector_matches(selector, labels) is expected


def test_unknown_operator_is_an_error():
    with pytest.raises(ValueError, match="Equals"):
        s.selector_matches({"matchExpressions": [{"key": "a", "operator": "Equals"}]}, {"a": "b"})


def test_cluster_selectors_include_nested_generators():
    appset = {"spec": {"generators": [
        {"list": {"elements": []}},
        {"clusters": {"selector": {"matchLabels": {"env": "test"}}}},
        {"matrix": {"generators": [{"clusters": {}}, {"git": {}}]}},
        {"merge": {"generators": [{"matrix": {"generators": [{"clusters": {"selector": {"matchLabels": {"a": "b"}}}}]}}]}},
    ]}}
    assert s.cluster_selectors(appset) == [{"matchLabels": {"env": "test"}}, {}, {"matchLabels": {"a": "b"}}]


def _cluster(name, ns="fleet", infra="OCICluster", phase="Provisioned", labels=None):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"infrastructureRef": {"kind": infra}}, "status": {"phase": phase}}


def _secret(name, ns, labels, mode="kubeconfig"):
    return {"metadata": {"name": f"cluster-{ns}.{name}",
                         "annotations": {"multicluster.gitops/credential-mode": mode} if mode else {},
                         "labels": {"multicluster.gitops/registered": "true", "multicluster.gitops/cluster-name": name,
                                    "multicluster.gitops/cluster-namespace": ns, **labels}},
            "data": {"server": base64.b64encode(f"https://{name}:6443".encode()).decode()}}


def _appset(name, *generators):
    return {"metadata": {"name": name}, "spec": {"generators": list(generators)}}


def test_build_summary_rows():
    clusters = [_cluster("prod-1", labels={"env": "prod"}), _cluster("test-1", labels={"env": "test"}),
                _cluster("oke-1", infra="OCIManagedCluster", phase="Provisioning")]
    secrets = [_secret("prod-1", "fleet", {"env": "prod"}), _secret("test-1", "fleet", {"env": "test"})]
    appsets = [_appset("guestbook", {"clusters": {}}),
               _appset("canary", {"clusters": {"selector": {"matchLabels": {"env": "test"}}}})]
    summary = s.build_summary(clusters, secrets, appsets)
    rows = {r["cluster"]: r for r in summary["clusters"]}
    assert [r["cluster"] for r in summary["clusters"]] == ["oke-1", "prod-1", "test-1"]
    assert rows["prod-1"]["applicationsets"] == ["guestbook"]
    assert rows["test-1"]["applicationsets"] == ["canary", "guestbook"]
    assert rows["oke-1"] == {**rows["oke-1"], "kind": "oke", "phase": "Provisioning", "registered": False,
                             "applicationsets": []}
    assert rows["prod-1"]["server"] == "https://prod-1:6443"
    assert rows["prod-1"]["kind"] == "self-managed"
    assert summary["applicationsets"] == ["canary", "guestbook"]


def test_secret_of_same_name_in_other_namespace_does_not_register():
    summary = s.build_summary([_cluster("c1", ns="a")], [_secret("c1", "b", {})], [])
    assert summary["clusters"][0]["registered"] is False


def test_table_and_mermaid():
    summary = s.build_summary([_cluster("prod-1", labels={"env": "prod"})], [_secret("prod-1", "fleet", {})],
                              [_appset("guestbook", {"clusters": {}})])
    table = s.to_table(summary)
    assert table[0].split() == ["CLUSTER", "KIND", "PHASE", "IN", "ARGO", "CD", "CREDENTIALS", "APPLICATIONSETS"]
    assert table[1].split() == ["fleet/prod-1", "self-managed", "Provisioned", "yes", "kubeconfig", "guestbook"]
    diagram = s.to_mermaid(summary)
    assert diagram.startswith("flowchart LR\n")
    assert "hub -->|CAPI| cluster_fleet_prod_1" in diagram
    assert "self-managed · Provisioned · registered (kubeconfig)" in diagram
    assert "appset_guestbook -->|deploys to| cluster_fleet_prod_1" in diagram


def test_registration_is_read_from_the_ownership_label():
    """A Secret the Kyverno policy generated counts as registered although Kyverno set managed-by: kyverno; a Secret
    without multicluster.gitops/registered (written by someone else) does not.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (managedBy overwrites the label).
    """
    by_kyverno = _secret("test-1", "fleet", {"app.kubernetes.io/managed-by": "kyverno",
                                             "generate.kyverno.io/policy-name": "register"})
    foreign = _secret("prod-1", "fleet", {"app.kubernetes.io/managed-by": "multicluster.gitops"})
    del foreign["metadata"]["labels"]["multicluster.gitops/registered"]
    summary = s.build_summary([_cluster("test-1"), _cluster("prod-1")], [by_kyverno, foreign],
                              [_appset("guestbook", {"clusters": {"selector": {"matchLabels": {
                                  "multicluster.gitops/registered": "true"}}}})])
    rows = {r["cluster"]: r for r in summary["clusters"]}
    assert rows["test-1"]["registered"] and rows["test-1"]["applicationsets"] == ["guestbook"]
    assert not rows["prod-1"]["registered"] and rows["prod-1"]["applicationsets"] == []
    assert s.ARGOCD_CLUSTER_SELECTOR == "argocd.argoproj.io/secret-type=cluster,multicluster.gitops/registered=true"


def test_credential_mode_per_cluster():
    """The mode comes from the annotation both writers put on the Argo CD Secret (the module and the Kyverno policy):
    an OKE cluster registered with a ServiceAccount token shows service_account, an unregistered one nothing."""
    clusters = [_cluster("oke-1", infra="OCIManagedCluster"), _cluster("sm-1"), _cluster("old-1"), _cluster("new-1")]
    secrets = [_secret("oke-1", "fleet", {}, mode="service_account"), _secret("sm-1", "fleet", {}),
               _secret("old-1", "fleet", {}, mode=None)]
    summary = s.build_summary(clusters, secrets, [])
    modes = {r["cluster"]: r["credential_mode"] for r in summary["clusters"]}
    assert modes == {"oke-1": "service_account", "sm-1": "kubeconfig", "old-1": "unknown", "new-1": None}
    lines = {line.split()[0]: line.split() for line in s.to_table(summary)[1:]}
    assert lines["fleet/oke-1"][1:5] == ["oke", "Provisioned", "yes", "service_account"]
    assert lines["fleet/new-1"][3:5] == ["no", "-"]


class _EmptyHub:
    """A hub after playbooks/destroy.yml: no Cluster API group, no ApplicationSet CRD, no Argo CD namespace."""

    host = "https://hub.example:6443"

    def __init__(self, served: dict[str, list] | None = None):
        self.served = served or {}

    def request(self, method, path, **kwargs):
        from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError
        if path == "/apis/cluster.x-k8s.io" and "clusters" in self.served:
            return {"preferredVersion": {"version": "v1beta2"}}
        raise ApiError(f"{method} {path}: 404 Not Found", status=404, reason="NotFound")

    def list(self, res, namespace=None, **selectors):
        from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError
        if res.plural in self.served:
            return {"items": self.served[res.plural]}
        raise ApiError(f"LIST {res.plural}: 404 Not Found", status=404, reason="NotFound")


def test_summary_of_a_destroyed_hub_is_empty():
    """After destroy.yml the APIs and the Argo CD namespace are gone: no cluster is shown, none as registered."""
    assert s.summarize(_EmptyHub(), argocd_namespace="argocd") == {"clusters": [], "applicationsets": []}
    left = s.summarize(_EmptyHub({"clusters": [_cluster("foreign", ns="default")]}), argocd_namespace="argocd")
    assert [(r["cluster"], r["registered"]) for r in left["clusters"]] == [("foreign", False)]


def test_summary_errors_other_than_not_found_still_fail():
    from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError

    class Broken(_EmptyHub):
        def list(self, res, namespace=None, **selectors):
            raise ApiError("LIST: 500", status=500, reason="InternalError")

    with pytest.raises(ApiError):
        s.summarize(Broken({"clusters": []}), argocd_namespace="argocd")
