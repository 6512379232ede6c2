"""Cluster API v1.12.5 managers (core, kubeadm bootstrap and control plane, CAPD) on a real API server.

Each cluster is a v1beta2 Cluster + KubeadmControlPlane + DevCluster + DevMachineTemplate with CAPD's
in-memory backend (``spec.backend.inMemory``): the machines are simulated, the workload cluster's API
server is a fake one CAPD serves in-process on 127.0.0.1. Everything else is the real thing: the
managers' reconcilers, conditions, webhooks (defaulting, validation, v1beta1<->v1beta2 conversion),
the ``<name>-kubeconfig`` Secret and deletion with finalizers.

Skipped with the reason when `python -m realengines build kube capi` has not run (failed instead
with MCG_ENGINES_REQUIRED=1).
"""
from __future__ import annotations

import base64
import json
import ssl
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_registration import Options, Registrar
from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import run as wait_run
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import kube_client
from ansible_collections.multicluster.gitops.plugins.modules import argocd_cluster_secret
from tests.integration.test_capi_cluster_wait import params as wait_params

pytestmark = pytest.mark.engines

B1 = "cluster.x-k8s.io/v1beta1"
B2 = "cluster.x-k8s.io/v1beta2"
KUBERNETES_VERSION = "v1.34.2"
FAST = {"startupDuration": "1s", "startupJitter": "0.1"}


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 180, interval: float = 0.5) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout:.0f}s (last: {last!r})")


class CapiHub:
    """One namespace of the real hub, with the verbs these tests need."""

    def __init__(self, capi: Any) -> None:
        self.capi = capi
        self.server = capi.server
        self.ns = f"capi-{uuid.uuid4().hex[:6]}"
        status, body = self.server.request("POST", "/api/v1/namespaces", {"metadata": {"name": self.ns}})
        assert status == 201, body

    def path(self, api_version: str, plural: str, name: str = "", namespace: str | None = None) -> str:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = f"{prefix}/namespaces/{namespace or self.ns}/{plural}"
        return f"{path}/{name}" if name else path

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        plural = obj["kind"].lower() + "s"
        status, body = self.server.request("POST", self.path(obj["apiVersion"], plural), obj)
        assert status == 201, f"{obj['kind']} {obj['metadata']['name']}: {status} {body}"
        return body

    def get(self, api_version: str, plural: str, name: str) -> dict[str, Any] | None:
        status, body = self.server.request("GET", self.path(api_version, plural, name))
        if status == 404:
            return None
        assert status == 200, body
        return body

    def cluster(self, name: str, *, replicas: int = 1, labels: dict[str, str] | None = None,
                provisioning: dict[str, dict[str, str]] | None = None) -> None:
        """The objects of one in-memory workload cluster, written as a user would (v1beta2). ``provisioning``
        overrides the simulated start-up of a machine step (``vm``, ``node``, ``apiServer``, ``etcd``)."""
        infra, cp = "infrastructure.cluster.x-k8s.io", "controlplane.cluster.x-k8s.io"
        steps = {step: {**FAST, **(provisioning or {}).get(step, {})} for step in ("vm", "node", "apiServer", "etcd")}
        # An annotation, any: CAPD v1.12.5's in-memory backend writes into metadata.annotations without
        # creating the map and panics on a DevCluster that has none
        # (test/infrastructure/docker/internal/controllers/backends/inmemory/inmemorycluster_backend.go:81).
        self.create({"apiVersion": f"{infra}/v1beta2", "kind": "DevCluster",
                     "metadata": {"name": name, "namespace": self.ns,
                                  "annotations": {"multicluster.gitops/test": "in-memory"}},
                     "spec": {"backend": {"inMemory": {}}}})
        self.create({"apiVersion": f"{infra}/v1beta2", "kind": "DevMachineTemplate",
                     "metadata": {"name": f"{name}-cp", "namespace": self.ns},
                     "spec": {"template": {"spec": {"backend": {"inMemory": {
                         step: {"provisioning": settings} for step, settings in steps.items()}}}}}})
        self.create({"apiVersion": f"{cp}/v1beta2", "kind": "KubeadmControlPlane",
                     "metadata": {"name": name, "namespace": self.ns},
                     "spec": {"replicas": replicas, "version": KUBERNETES_VERSION,
                              "machineTemplate": {"spec": {"infrastructureRef": {
                                  "apiGroup": infra, "kind": "DevMachineTemplate", "name": f"{name}-cp"}}},
                              "kubeadmConfigSpec": {"clusterConfiguration": {"apiServer": {
                                  "certSANs": ["localhost", "127.0.0.1"]}}}}})
        self.create({"apiVersion": B2, "kind": "Cluster",
                     "metadata": {"name": name, "namespace": self.ns, "labels": labels or {}},
                     "spec": {"clusterNetwork": {"services": {"cidrBlocks": ["10.128.0.0/12"]},
                                                 "pods": {"cidrBlocks": ["192.168.0.0/16"]},
                                                 "serviceDomain": "cluster.local"},
                              "infrastructureRef": {"apiGroup": infra, "kind": "DevCluster", "name": name},
                              "controlPlaneRef": {"apiGroup": cp, "kind": "KubeadmControlPlane", "name": name}}})

    def condition(self, name: str, ctype: str) -> dict[str, Any] | None:
        cluster = self.get(B2, "clusters", name) or {}
        return next((c for c in cluster.get("status", {}).get("conditions", []) if c["type"] == ctype), None)

    def kubeconfig(self, name: str) -> dict[str, Any]:
        secret = self.get("v1", "secrets", f"{name}-kubeconfig")
        assert secret is not None
        return yaml.safe_load(base64.b64decode(secret["data"]["value"]))


@pytest.fixture(scope="module")
def provisioned(real_capi: Any) -> Iterator[tuple[CapiHub, str]]:
    """One in-memory cluster, provisioned until its control plane is initialized and its kubeconfig exists."""
    hub = CapiHub(real_capi)
    name = "wl-1"
    hub.cluster(name, labels={"env": "dev"})
    wait_until(f"Cluster {name} ControlPlaneInitialized=True",
               lambda: (hub.condition(name, "ControlPlaneInitialized") or {}).get("status") == "True")
    wait_until(f"Secret {name}-kubeconfig", lambda: hub.get("v1", "secrets", f"{name}-kubeconfig"))
    yield hub, name


def _workload_get(kubeconfig: dict[str, Any], path: str) -> tuple[int, Any]:
    """GET ``path`` on the workload API server with the credentials of a CAPI kubeconfig."""
    cluster = kubeconfig["clusters"][0]["cluster"]
    user = kubeconfig["users"][0]["user"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "c.crt", Path(tmp) / "c.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        ctx.load_cert_chain(str(cert), str(key))
    req = urllib.request.Request(cluster["server"] + path, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


# --- the managers themselves ------------------------------------------------------------------------------
def test_every_registered_webhook_path_is_served(real_capi: Any) -> None:
    """Our webhook configuration generator only names paths the managers serve.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : config/webhook/manifests.yaml,
    bootstrap/kubeadm/config/webhook/manifests.yaml, controlplane/kubeadm/config/webhook/manifests.yaml,
    test/infrastructure/docker/config/webhook/manifests.yaml (the paths); a wrong path answers 404."""
    for name, run in real_capi.running.items():
        for hook in run.manager.webhooks:
            assert real_capi.webhook_status(name, hook.path) != 404, f"{name} does not serve {hook.path}"
        assert real_capi.webhook_status(name, hook.path + "-nope") == 404  # the probe can tell


def test_validating_webhook_rejects_a_cluster_without_references(real_capi: Any) -> None:
    """The registered validating webhook runs: a Cluster with neither controlPlaneRef, infrastructureRef nor
    topology passes the CRD schema but is refused by the core manager's webhook.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : internal/webhooks/cluster.go (validate: "one of
    spec.controlPlaneRef, spec.infrastructureRef or spec.topology must be set")."""
    hub = CapiHub(real_capi)
    status, body = hub.server.request("POST", hub.path(B2, "clusters"), {
        "apiVersion": B2, "kind": "Cluster", "metadata": {"name": "no-refs", "namespace": hub.ns}, "spec": {"paused": False}})
    assert status in (400, 403, 422), body
    assert "validation.cluster.cluster.x-k8s.io" in body["message"], body["message"]
    assert "spec.infrastructureRef or spec.topology must be set" in body["message"], body["message"]


# --- one in-memory cluster -------------------------------------------------------------------------------
def test_control_plane_initialized_and_kubeconfig_secret(provisioned: tuple[CapiHub, str]) -> None:
    """The v1beta2 status and the kubeconfig Secret the modules rely on, as the real controllers write them.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : internal/controllers/cluster/cluster_controller_status.go
    (ControlPlaneInitialized condition, status.initialization), util/kubeconfig/kubeconfig.go
    (GenerateSecretWithOwner: name <cluster>-kubeconfig, label cluster.x-k8s.io/cluster-name, type
    cluster.x-k8s.io/secret, key value), controlplane/kubeadm/internal/controllers/helpers.go
    (reconcileKubeconfig: KCP writes it, owned by the KubeadmControlPlane),
    test/infrastructure/docker/internal/controllers/backends/inmemory/inmemorycluster_backend.go (the
    DevCluster needs an annotations map: see CapiHub.cluster)."""
    hub, name = provisioned
    cluster = hub.get(B2, "clusters", name)
    assert cluster["status"]["initialization"]["infrastructureProvisioned"] is True
    assert cluster["status"]["initialization"]["controlPlaneInitialized"] is True
    assert "cluster.cluster.x-k8s.io" in cluster["metadata"]["finalizers"]
    endpoint = cluster["spec"]["controlPlaneEndpoint"]
    assert endpoint["host"] == "127.0.0.1" and 20000 <= endpoint["port"] < 24000, endpoint
    secret = hub.get("v1", "secrets", f"{name}-kubeconfig")
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == name
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("KubeadmControlPlane", name)
    kubeconfig = hub.kubeconfig(name)
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{endpoint['port']}"


def test_workload_api_server_answers_through_the_kubeconfig(provisioned: tuple[CapiHub, str]) -> None:
    """The fake workload API server of the in-memory backend serves the node of the control plane machine,
    reached with the client certificate of the CAPI kubeconfig on 127.0.0.1.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : test/infrastructure/inmemory/pkg/server/mux.go
    (listener on $POD_IP, ports from 20000), test/infrastructure/docker/internal/controllers/backends/inmemory/
    inmemorymachine_backend.go (the simulated Node)."""
    hub, name = provisioned
    kubeconfig = hub.kubeconfig(name)
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    machines = wait_until("a Machine with a nodeRef", lambda: [
        m for m in hub.server.request("GET", hub.path(B2, "machines") + f"?labelSelector=cluster.x-k8s.io/cluster-name={name}")[1]["items"]
        if m.get("status", {}).get("nodeRef")])
    status, nodes = _workload_get(kubeconfig, "/api/v1/nodes")
    assert status == 200
    assert {n["metadata"]["name"] for n in nodes["items"]} == {m["status"]["nodeRef"]["name"] for m in machines}


def test_cluster_reads_through_v1beta1_via_the_conversion_webhook(provisioned: tuple[CapiHub, str]) -> None:
    """The API server converts the stored v1beta2 Cluster to v1beta1 by calling the core manager's /convert:
    references get an apiVersion taken from the provider CRD's contract label, the v1beta2 conditions move
    under status.v1beta2, status.controlPlaneReady / infrastructureReady come from status.initialization.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : api/core/v1beta1/conversion.go (Cluster.ConvertFrom),
    internal/contract/version.go (GetAPIVersion reads the cluster.x-k8s.io/<contract> CRD label),
    test/infrastructure/docker/config/crd/kustomization.yaml (the labels)."""
    hub, name = provisioned
    old = hub.get(B1, "clusters", name)
    assert old["apiVersion"] == B1
    assert old["spec"]["infrastructureRef"]["apiVersion"] == "infrastructure.cluster.x-k8s.io/v1beta2"
    assert old["spec"]["controlPlaneRef"]["apiVersion"] == "controlplane.cluster.x-k8s.io/v1beta2"
    assert old["status"]["infrastructureReady"] is True and old["status"]["controlPlaneReady"] is True
    v1beta2_types = {c["type"] for c in old["status"]["v1beta2"]["conditions"]}
    assert {"Available", "ControlPlaneInitialized", "InfrastructureReady"} <= v1beta2_types


def test_capi_cluster_wait_on_real_controllers(provisioned: tuple[CapiHub, str]) -> None:
    """capi_cluster_wait reads the real v1beta2 status: control_plane_initialized is reached and the
    kubeconfig Secret is found.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : api/core/v1beta2/cluster_types.go
    (ClusterControlPlaneInitializedCondition, status.initialization.controlPlaneInitialized)."""
    hub, name = provisioned
    client = kube_client({"kubeconfig": str(hub.server.kubeconfig_path)})
    result = wait_run(client, wait_params(name=name, namespace=hub.ns, wait_for="control_plane_initialized",
                                          timeout=120))
    (c,) = result["clusters"]
    assert result["api_version"] == B2
    assert (c["state"], c["ready"], c["kubeconfig_secret_found"]) == ("ready", True, True), c
    assert c["kubeconfig_secret"] == f"{name}-kubeconfig"
    endpoint = hub.get(B2, "clusters", name)["spec"]["controlPlaneEndpoint"]
    assert c["control_plane_endpoint"] == f"https://127.0.0.1:{endpoint['port']}"


def test_capi_cluster_wait_available(provisioned: tuple[CapiHub, str]) -> None:
    """With the in-memory etcd and API server answering, KCP and the cluster become Available (no workers:
    WorkersAvailable is true), and capi_cluster_wait returns ready for wait_for=available.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : internal/controllers/cluster/cluster_controller_status.go
    (setAvailableCondition summarizes InfrastructureReady, ControlPlaneAvailable, WorkersAvailable,
    RemoteConnectionProbe)."""
    hub, name = provisioned
    client = kube_client({"kubeconfig": str(hub.server.kubeconfig_path)})
    result = wait_run(client, wait_params(name=name, namespace=hub.ns, wait_for="available", timeout=240))
    (c,) = result["clusters"]
    assert (c["state"], c["ready"]) == ("ready", True), c
    assert (hub.condition(name, "Available") or {}).get("status") == "True"


def _registration_params(**overrides: Any) -> dict[str, Any]:
    params = {key: spec.get("default") for key, spec in argocd_cluster_secret.argspec().items()}
    params.update(overrides)
    return params


def test_argocd_cluster_secret_registers_the_real_kubeconfig(provisioned: tuple[CapiHub, str]) -> None:
    """argocd_cluster_secret (credential_mode=kubeconfig) turns the kubeconfig KCP wrote into an Argo CD
    cluster Secret for the 127.0.0.1 workload endpoint with its client certificate; a re-run writes nothing.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : util/kubeconfig/kubeconfig.go (New: one cluster, one
    user with client-certificate-data/client-key-data, context <cluster>-admin@<cluster>)."""
    hub, name = provisioned
    argocd_ns = f"argocd-{hub.ns}"
    assert hub.server.request("POST", "/api/v1/namespaces", {"metadata": {"name": argocd_ns}})[0] == 201
    client = kube_client({"kubeconfig": str(hub.server.kubeconfig_path)})
    options = Options.from_params(_registration_params(name=name, namespace=hub.ns, credential_mode="kubeconfig",
                                                       argocd_namespace=argocd_ns))
    outcome = Registrar(client, options).run()
    (result,) = outcome.results
    assert (result.action, result.credential_mode) == ("created", "kubeconfig"), result.as_dict()
    secret = hub.server.request("GET", f"/api/v1/namespaces/{argocd_ns}/secrets/{result.secret}")[1]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    capi_kubeconfig = hub.kubeconfig(name)
    assert data["server"] == capi_kubeconfig["clusters"][0]["cluster"]["server"]
    assert data["server"].startswith("https://127.0.0.1:")
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    assert secret["metadata"]["labels"].get("env") == "dev"
    config = json.loads(data["config"])
    user = capi_kubeconfig["users"][0]["user"]
    assert config["tlsClientConfig"]["certData"] == user["client-certificate-data"]
    assert config["tlsClientConfig"]["caData"] == capi_kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
    again = Registrar(kube_client({"kubeconfig": str(hub.server.kubeconfig_path)}), options).run()
    assert [r.action for r in again.results] == ["unchanged"] and not again.changed


# --- deletion, last: it removes the module's cluster ----------------------------------------------------
def test_delete_honours_the_finalizers(real_capi: Any) -> None:
    """Deleting a Cluster sets deletionTimestamp while the finalizer cluster.cluster.x-k8s.io holds it; the core
    controller deletes the control plane and infrastructure first, then drops the finalizer and the Cluster,
    its KubeadmControlPlane, DevCluster and kubeconfig Secret are gone.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : api/core/v1beta2/cluster_types.go (ClusterFinalizer),
    internal/controllers/cluster/cluster_controller.go (reconcileDelete: descendants, then control plane and
    infrastructure, then the finalizer)."""
    hub = CapiHub(real_capi)
    name = "wl-del"
    hub.cluster(name)
    wait_until("kubeconfig Secret", lambda: hub.get("v1", "secrets", f"{name}-kubeconfig"))
    status, body = hub.server.request("DELETE", hub.path(B2, "clusters", name))
    assert status in (200, 202), body
    deleting = hub.get(B2, "clusters", name)
    assert deleting is not None, "the finalizer must keep the Cluster while the controllers clean up"
    assert deleting["metadata"]["deletionTimestamp"]
    assert "cluster.cluster.x-k8s.io" in deleting["metadata"]["finalizers"]
    wait_until("Cluster gone", lambda: hub.get(B2, "clusters", name) is None)
    assert hub.get("controlplane.cluster.x-k8s.io/v1beta2", "kubeadmcontrolplanes", name) is None
    assert hub.get("infrastructure.cluster.x-k8s.io/v1beta2", "devclusters", name) is None
    wait_until("kubeconfig Secret garbage-collected",
               lambda: hub.get("v1", "secrets", f"{name}-kubeconfig") is None, timeout=60)
