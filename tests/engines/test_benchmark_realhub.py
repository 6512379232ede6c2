"""The benchmarks' real hub (benchmarks/realhub.py) on the kube-apiserver built here: it counts what the benchmarked
client asks, and nothing of the benchmark's own writes.

Skipped with the reason when `python -m realengines build kube` has not run or the Cluster API release CRDs are not
found (failed instead with MCG_ENGINES_REQUIRED=1 when the binaries are missing).
"""
from __future__ import annotations

from collections import Counter

import pytest
from kubernetes import client, config

from benchmarks.realhub import RealHub
from realengines.crds import missing_crds
from realengines.pytest_plugin import require_real_engines, run_name

pytestmark = pytest.mark.engines

B2 = "cluster.x-k8s.io/v1beta2"


def test_the_audit_log_counts_the_clients_requests_only() -> None:
    """Upstream: kubernetes/kubernetes @ v1.34.4 : staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go (a rule
    with ``users`` matches those users only, the first matching rule decides) and
    staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go (one event per stage; a long-running request such as
    a watch also has ResponseStarted)."""
    require_real_engines("kube")
    reason = missing_crds("capi")
    if reason:
        pytest.skip(reason)
    hub = RealHub(run_name("realhub")).start()
    try:
        hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fleet"}})
        hub.create({"apiVersion": B2, "kind": "Cluster", "metadata": {"name": "c1", "namespace": "fleet"},
                    "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                                   "kind": "OCICluster", "name": "c1"}},
                    "status": {"initialization": {"controlPlaneInitialized": True}}})
        [cluster] = hub.list(B2, "Cluster", "fleet")
        assert cluster["status"]["initialization"] == {"controlPlaneInitialized": True}  # create keeps the status

        hub.reset_counters()
        api = config.new_client_from_config_dict(hub.kubeconfig_dict())
        client.ApisApi(api).get_api_versions()
        client.CustomObjectsApi(api).list_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", "fleet", "clusters")
        core = client.CoreV1Api(api)
        core.create_namespaced_secret("fleet", {"metadata": {"name": "s1"}, "data": {"k": "dg=="}})
        watch = core.list_namespaced_secret("fleet", watch=True, timeout_seconds=1, _preload_content=False)
        watch.read()
        watch.release_conn()
        hub.patch_status(B2, "Cluster", "c1", "fleet", {"phase": "Provisioned"})  # the benchmark's own: not counted
        hub.delete_collection("v1", "Secret", "fleet")
        assert hub.requests == Counter({("GET", "/apis/"): 1, ("GET", "clusters"): 1, ("POST", "secrets"): 1,
                                        ("GET", "secrets"): 1})
        assert hub.requests == Counter({("GET", "/apis/"): 1, ("GET", "clusters"): 1, ("POST", "secrets"): 1,
                                        ("GET", "secrets"): 1}), "reading the counts again counts nothing new"
        hub.reset_counters()
        assert hub.requests == Counter()
    finally:
        hub.stop()
