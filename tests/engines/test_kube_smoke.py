"""Smoke tests of the real control plane (etcd + kube-apiserver + kube-controller-manager built here).

Skipped with the reason when `python -m realengines build kube` has not run (failed instead with
MCG_ENGINES_REQUIRED=1).
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from realengines.kube import KubeAPIServer

pytestmark = pytest.mark.engines


def _ns() -> str:
    return f"smoke-{uuid.uuid4().hex[:8]}"


def _wait_gone(server: KubeAPIServer, path: str, timeout: float = 60) -> list[str]:
    """Poll ``path`` until 404; return the namespace phases seen on the way."""
    phases: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = server.request("GET", path)
        if status == 404:
            return phases
        phases.append(body["status"]["phase"])
        time.sleep(0.2)
    raise AssertionError(f"{path} still there after {timeout}s (phases {sorted(set(phases))})")


def test_create_namespace_and_read_it_back(real_hub):
    """Upstream: kubernetes/kubernetes @ v1.34.4 : pkg/registry/core/namespace/strategy.go (new namespaces are Active)."""
    name = _ns()
    status, created = real_hub.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201, created
    assert created["status"]["phase"] == "Active"
    assert created["spec"]["finalizers"] == ["kubernetes"]


def test_secret_with_invalid_base64_data_is_rejected(real_hub):
    """Upstream: kubernetes/kubernetes @ v1.34.4 : staging/src/k8s.io/api/core/v1/types.go
    (Secret.data is map[string][]byte: JSON carries base64, anything else does not decode)."""
    status, body = real_hub.request("POST", "/api/v1/namespaces/default/secrets",
                                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad-b64"},
                                     "data": {"k": "not base64!"}})
    assert status == 400 and body["reason"] == "BadRequest", body
    assert "base64" in body["message"]
    assert real_hub.request("GET", "/api/v1/namespaces/default/secrets/bad-b64")[0] == 404


def test_rbac_denies_an_unprivileged_service_account_token(real_hub):
    """Upstream: kubernetes/kubernetes @ v1.34.4 : plugin/pkg/auth/authorizer/rbac/rbac.go (deny without a
    binding) and pkg/registry/core/serviceaccount/storage/token.go (TokenRequest)."""
    name = _ns()
    assert real_hub.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    assert real_hub.request("POST", f"/api/v1/namespaces/{name}/serviceaccounts", {"metadata": {"name": "nobody"}})[0] == 201
    status, review = real_hub.request("POST", f"/api/v1/namespaces/{name}/serviceaccounts/nobody/token",
                                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                       "spec": {"expirationSeconds": 600}})
    assert status == 201, review
    token = review["status"]["token"]
    api = real_hub.api_client(real_hub.kubeconfig_dict(token=token))
    from kubernetes import client

    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).list_namespaced_secret(name)
    assert err.value.status == 403
    assert f"system:serviceaccount:{name}:nobody" in err.value.body
    # authenticated, though: whoami answers with the service account
    me = client.AuthenticationV1Api(api).create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                     "kind": "SelfSubjectReview"})
    assert me.status.user_info.username == f"system:serviceaccount:{name}:nobody"


def test_namespace_deletion_goes_through_terminating_and_finishes(real_hub):
    """Upstream: kubernetes/kubernetes @ v1.34.4 : pkg/registry/core/namespace/storage/storage.go (delete sets
    Terminating while spec.finalizers holds "kubernetes") and pkg/controller/namespace/namespace_controller.go
    (empties the namespace, then removes the finalizer)."""
    name = _ns()
    real_hub.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert real_hub.request("POST", f"/api/v1/namespaces/{name}/configmaps", {"metadata": {"name": "c"}})[0] == 201
    status, deleted = real_hub.request("DELETE", f"/api/v1/namespaces/{name}")
    assert status == 200 and deleted["status"]["phase"] == "Terminating", deleted
    phases = _wait_gone(real_hub, f"/api/v1/namespaces/{name}")
    assert set(phases) <= {"Terminating"}
    assert real_hub.request("GET", f"/api/v1/namespaces/{name}/configmaps/c")[0] == 404


def test_namespace_stays_terminating_without_controller_manager(real_server_factory):
    """The finalizer is the controller's to remove: with no kube-controller-manager the namespace stays.
    Upstream: kubernetes/kubernetes @ v1.34.4 : pkg/registry/core/namespace/storage/storage.go."""
    bare = real_server_factory("bare", controller_manager=False)
    bare.request("POST", "/api/v1/namespaces", {"metadata": {"name": "stuck"}})
    bare.request("DELETE", "/api/v1/namespaces/stuck")
    time.sleep(3)
    status, body = bare.request("GET", "/api/v1/namespaces/stuck")
    assert status == 200 and body["status"]["phase"] == "Terminating"


def test_two_servers_are_independent_and_stop_cleanly(real_hub, real_server_factory):
    """A second API server (a workload cluster stand-in) has its own CA, etcd and objects; stop() leaves
    no process behind."""
    workload = real_server_factory("workload")
    assert workload.url != real_hub.url and workload.ca_pem != real_hub.ca_pem
    workload.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "only-here"}})
    assert real_hub.request("GET", "/api/v1/namespaces/default/configmaps/only-here")[0] == 404
    from kubernetes import client

    foreign = real_hub.kubeconfig_dict(cert=workload.admin_client_cert)
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(real_hub.api_client(foreign)).list_namespace(_request_timeout=10)
    assert err.value.status == 401
    pids = [p.pid for p in workload.processes.values()]
    workload.stop()
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "processes left after stop()"
    assert workload.processes == {} and not (workload.state_dir / "pids.json").exists()
