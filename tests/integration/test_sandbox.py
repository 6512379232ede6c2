"""The sandbox: simulated Cluster API lifecycle on an emulated hub, and the background process."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from kubemu.capi_sim import FAIL_ANNOTATION, CapiSimulator
from kubemu.sandbox import SCHEMALESS_KINDS, schemaless_crd
from tests.helpers.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
V1B2 = "cluster.x-k8s.io/v1beta2"


def _cluster(name, annotations=None):
    return {"apiVersion": V1B2, "kind": "Cluster",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
            "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OCICluster",
                                           "name": name}}}


def _wait(predicate, timeout=15.0):
    return wait_for("the simulated controller", predicate, timeout, interval=0.05)


@pytest.fixture
def hub(kube_server_factory, kube_crd_dir):
    server = kube_server_factory("sandbox-hub", crd_dir=kube_crd_dir)
    if kube_crd_dir is None:
        for kind in SCHEMALESS_KINDS:
            server.create(schemaless_crd(*kind))
    return server


@pytest.fixture
def sim(hub, kube_server_factory):
    simulator = CapiSimulator(hub, kube_server_factory, step_seconds=0.2, tick_seconds=0.02)
    simulator.start()
    yield simulator
    simulator.stop()


def test_cluster_goes_through_phases_and_gets_a_working_kubeconfig(hub, sim):
    hub.create(_cluster("test-1"))
    phases = []

    def available():
        obj = hub.get(V1B2, "Cluster", "test-1", "default")
        status = obj.get("status") or {}
        if status.get("phase") and (not phases or phases[-1] != status["phase"]):
            phases.append(status["phase"])
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return obj if conditions.get("Available") == "True" else None

    obj = _wait(available)
    assert phases == ["Pending", "Provisioning", "Provisioned"]
    assert obj["status"]["initialization"] == {"infrastructureProvisioned": True, "controlPlaneInitialized": True}
    secret = hub.get("v1", "Secret", "test-1-kubeconfig", "default")
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "test-1"
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
    user = kubeconfig["users"][0]["user"]
    assert user.get("client-certificate-data") and user.get("client-key-data")
    endpoint = obj["spec"]["controlPlaneEndpoint"]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{endpoint['host']}:{endpoint['port']}"
    workload = config.new_client_from_config_dict(kubeconfig)
    assert client.CoreV1Api(workload).read_namespace("kube-system").metadata.name == "kube-system"


def test_failure_annotation_fails_the_cluster(hub, sim):
    hub.create(_cluster("prod-1", {FAIL_ANNOTATION: "quota exceeded for VM.Standard.E4.Flex"}))
    obj = _wait(lambda: (o := hub.get(V1B2, "Cluster", "prod-1", "default")) and
                (o.get("status") or {}).get("phase") == "Failed" and o)
    infra = next(c for c in obj["status"]["conditions"] if c["type"] == "InfrastructureReady")
    assert (infra["status"], infra["reason"], infra["message"]) == (
        "False", "OCIClusterProvisioningFailed", "quota exceeded for VM.Standard.E4.Flex")
    assert hub.get("v1", "Secret", "prod-1-kubeconfig", "default") is None


def test_deleting_the_cluster_stops_its_server_and_removes_the_kubeconfig(hub, sim):
    hub.create(_cluster("gone-1"))
    _wait(lambda: hub.get("v1", "Secret", "gone-1-kubeconfig", "default"))
    server = sim.workload_servers()["default/gone-1"]
    url = server.url
    hub.delete(V1B2, "Cluster", "gone-1", "default")
    _wait(lambda: hub.get(V1B2, "Cluster", "gone-1", "default") is None)
    assert hub.get("v1", "Secret", "gone-1-kubeconfig", "default") is None
    assert "default/gone-1" not in sim.workload_servers()
    with pytest.raises(Exception):
        client.VersionApi(config.new_client_from_config_dict(server.kubeconfig_dict())).get_code(_request_timeout=2)
    assert url.startswith("https://127.0.0.1:")


def _sandbox(*args, state_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "kubemu.sandbox", *args, "--state-dir", str(state_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_process_up_reuse_down_leaves_nothing_behind(tmp_path, kube_crd_dir):
    crd = ["--crd-dir", str(kube_crd_dir)] if kube_crd_dir else ["--allow-schemaless"]
    started = _sandbox("up", *crd, state_dir=tmp_path)
    try:
        assert started["state"] == "started"
        reused = _sandbox("up", *crd, state_dir=tmp_path)
        assert reused["state"] == "reused"
        # Which CRDs the hub validates against, said by the start and by every reuse.
        assert reused["crds"] == started["crds"]
        if kube_crd_dir:
            assert started["crds"]["source"] == "directory"
            assert started["crds"]["count"] == len(list(kube_crd_dir.glob("*.yaml"))) > 0
        api = config.new_client_from_config(str(tmp_path / "hub.kubeconfig"))
        groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
        assert {"cluster.x-k8s.io", "argoproj.io", "kyverno.io"} <= groups
    finally:
        stopped = _sandbox("down", state_dir=tmp_path)
    assert stopped == {"state": "stopped", "pid": started["pid"]}
    with pytest.raises(ProcessLookupError):
        os.kill(started["pid"], 0)
    assert _sandbox("status", state_dir=tmp_path) == {"state": "absent"}


def test_without_crd_files_the_kinds_are_served_without_schemas(kube_server_factory):
    server = kube_server_factory("schemaless")
    assert not server.serves(V1B2, "Cluster")
    for kind in SCHEMALESS_KINDS:
        server.create(schemaless_crd(*kind))
    for group, kind, _plural, _namespaced, versions, _storage in SCHEMALESS_KINDS:
        assert all(server.serves(f"{group}/{v}", kind) for v in versions), kind
    obj = _cluster("free-form")
    obj["spec"]["anything"] = {"goes": True}
    assert server.create(obj)["spec"]["anything"] == {"goes": True}


@pytest.mark.parametrize("api_version, kind, namespace, spec", [
    ("operator.cluster.x-k8s.io/v1alpha2", "CoreProvider", "capi-system", {"version": "v1.11.2"}),
    ("kyverno.io/v1", "ClusterPolicy", None, {"rules": []}),
])
def test_providers_and_policies_are_reported_ready(hub, sim, api_version, kind, namespace, spec):
    if not hub.serves(api_version, kind):
        pytest.skip(f"{kind} is not served without its CRD")
    if namespace:
        hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    hub.create({"apiVersion": api_version, "kind": kind, "spec": spec,
                "metadata": {"name": "cluster-api" if kind == "CoreProvider" else "p1", "namespace": namespace}})

    def ready():
        obj = hub.get(api_version, kind, "cluster-api" if kind == "CoreProvider" else "p1", namespace)
        conditions = (obj.get("status") or {}).get("conditions") or []
        return obj if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None

    obj = _wait(ready)
    if kind == "CoreProvider":
        assert obj["status"]["installedVersion"] == "v1.11.2"


# --- OKE: CAPOCI's managed kinds -------------------------------------------------------------------------------
INFRA = "infrastructure.cluster.x-k8s.io/v1beta2"


def _oke_cluster(hub, name):
    """What roles/capi_workloads/templates/cluster_objects.yml.j2 applies for kind: oke (the parts the simulator reads)."""
    meta = {"name": name, "namespace": "default"}
    hub.create({"apiVersion": INFRA, "kind": "OCIManagedCluster", "metadata": dict(meta),
                "spec": {"compartmentId": "ocid1.compartment.oc1..sandbox"}})
    hub.create({"apiVersion": INFRA, "kind": "OCIManagedControlPlane", "metadata": dict(meta),
                "spec": {"version": "v1.31.4", "clusterType": "ENHANCED_CLUSTER"}})
    hub.create({"apiVersion": V1B2, "kind": "Cluster", "metadata": dict(meta), "spec": {
        "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OCIManagedCluster", "name": name},
        "controlPlaneRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OCIManagedControlPlane",
                            "name": name}}})


def _available(hub, name):
    obj = hub.get(V1B2, "Cluster", name, "default")
    conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    return obj if conditions.get("Available", {}).get("status") == "True" else None


def _kubeconfig_of(hub, name):
    return yaml.safe_load(base64.b64decode(hub.get("v1", "Secret", f"{name}-kubeconfig", "default")["data"]["value"]))


@pytest.fixture
def oke_sim(hub, kube_server_factory):
    simulator = CapiSimulator(hub, kube_server_factory, step_seconds=0.2, tick_seconds=0.02, oke_token_seconds=2.0)
    simulator.start()
    yield simulator
    simulator.stop()


def test_oke_cluster_moves_capoci_objects_and_cluster_conditions(hub, oke_sim):
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : controllers/ocimanagedcluster_controller.go,
    controllers/ocimanagedcluster_controlplane_controller.go, api/v1beta2/ocimanagedcontrolplane_types.go
    (status ready / initialized / version, conditions ClusterReady, ControlPlaneReady and the Ready summary,
    spec.controlPlaneEndpoint); kubernetes-sigs/cluster-api @ v1.12.0 :
    internal/controllers/cluster/cluster_controller_status.go (the Cluster's reasons derived from them)."""
    _oke_cluster(hub, "prod-1")
    cluster = _wait(lambda: _available(hub, "prod-1"))
    reasons = {c["type"]: (c["status"], c["reason"]) for c in cluster["status"]["conditions"]}
    assert reasons["InfrastructureReady"] == ("True", "Ready")
    assert reasons["ControlPlaneInitialized"] == ("True", "Initialized")
    assert reasons["ControlPlaneAvailable"] == ("True", "Available")
    assert reasons["RemoteConnectionProbe"] == ("True", "ProbeSucceeded")
    assert cluster["status"]["initialization"] == {"infrastructureProvisioned": True, "controlPlaneInitialized": True}
    control_plane = hub.get(INFRA, "OCIManagedControlPlane", "prod-1", "default")
    assert {k: control_plane["status"][k] for k in ("ready", "initialized", "version")} == {
        "ready": True, "initialized": True, "version": "v1.31.4"}
    assert [(c["type"], c["status"]) for c in control_plane["status"]["conditions"]] == [("ControlPlaneReady", "True")]
    assert control_plane["spec"]["controlPlaneEndpoint"] == cluster["spec"]["controlPlaneEndpoint"]
    infra = hub.get(INFRA, "OCIManagedCluster", "prod-1", "default")
    assert infra["status"]["ready"] is True
    assert {c["type"]: c["status"] for c in infra["status"]["conditions"]} == {"Ready": "True", "ClusterReady": "True"}
    assert infra["spec"]["controlPlaneEndpoint"] == cluster["spec"]["controlPlaneEndpoint"]


def test_oke_kubeconfig_token_expires_within_the_token_life(hub, oke_sim):
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : cloud/scope/managed_control_plane.go
    (createCAPIKubeconfigSecret: Secret owned by the OCIManagedControlPlane, user <cluster>-capi-admin with a token
    from GenerateToken; updateCAPIKubeconfigSecret rewrites the token) and cloud/services/base/BaseClient.go
    (GenerateToken: base64url of a dated, signed cluster_request URL). A copy of the token stops working; the
    Secret keeps a fresh one."""
    _oke_cluster(hub, "prod-1")
    cluster = _wait(lambda: _available(hub, "prod-1"))
    secret = hub.get("v1", "Secret", "prod-1-kubeconfig", "default")
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "prod-1"
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("OCIManagedControlPlane", "prod-1", True)
    kubeconfig = _kubeconfig_of(hub, "prod-1")
    (user,) = kubeconfig["users"]
    assert user["name"] == "prod-1-capi-admin"
    assert set(user["user"]) == {"token"}  # no client certificate: only the short-lived token
    assert "/cluster_request/" in base64.urlsafe_b64decode(user["user"]["token"]).decode()
    endpoint = cluster["spec"]["controlPlaneEndpoint"]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{endpoint['host']}:{endpoint['port']}"
    copied = config.new_client_from_config_dict(kubeconfig)
    assert client.CoreV1Api(copied).read_namespace("kube-system").metadata.name == "kube-system"
    # after the token's life (2 s here, minutes in the sandbox) the copy is refused; the Secret holds a new token
    time.sleep(2.5)
    with pytest.raises(client.exceptions.ApiException) as refused:
        client.CoreV1Api(copied).read_namespace("kube-system")
    assert refused.value.status == 401
    fresh = _kubeconfig_of(hub, "prod-1")
    assert fresh["users"][0]["user"]["token"] != user["user"]["token"]
    api = client.CoreV1Api(config.new_client_from_config_dict(fresh))
    assert api.read_namespace("kube-system").metadata.name == "kube-system"


def test_oke_cluster_is_registered_with_a_service_account_that_outlives_the_kubeconfig_token(hub, oke_sim):
    """The registration backend (credential_mode auto) picks service_account for the OKE cluster and issues
    Argo CD's own token through the cluster's emulated API; that token still works once the kubeconfig's expired.
    Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : cloud/scope/managed_control_plane.go (token user)."""
    from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_registration import Options, Registrar
    from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_service_account import kubeconfig_client

    hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    _oke_cluster(hub, "prod-1")
    _wait(lambda: _available(hub, "prod-1"))
    outcome = Registrar(kubeconfig_client(hub.kubeconfig_dict()), Options(namespace="default")).run()
    (result,) = outcome.results
    assert (result.action, result.credential_mode) == ("created", "service_account"), result
    registered = hub.get("v1", "Secret", result.secret, "argocd")
    assert registered["metadata"]["annotations"]["multicluster.gitops/credential-mode"] == "service_account"
    argocd_config = json.loads(base64.b64decode(registered["data"]["config"]))
    server = base64.b64decode(registered["data"]["server"]).decode()
    time.sleep(2.5)  # the kubeconfig token the registration used has expired by now
    workload = config.new_client_from_config_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "argocd",
        "clusters": [{"name": "w", "cluster": {"server": server,
                                               "certificate-authority-data": argocd_config["tlsClientConfig"]["caData"]}}],
        "users": [{"name": "argocd", "user": {"token": argocd_config["bearerToken"]}}],
        "contexts": [{"name": "argocd", "context": {"cluster": "w", "user": "argocd"}}]})
    assert client.CoreV1Api(workload).read_namespace("kube-system").metadata.name == "kube-system"
    again = Registrar(kubeconfig_client(hub.kubeconfig_dict()), Options(namespace="default")).run()
    assert [r.action for r in again.results] == ["unchanged"]


def _sandbox_play(tmp_path, env):
    from tests.helpers.ansible import run_playbook

    state = tmp_path / "state"
    try:
        return run_playbook(tmp_path, "playbooks/sandbox.yml", inventory=ROOT / "inventories" / "sandbox",
                            extra_vars={"mcg_sandbox_dir": str(state)}, env=env, timeout=180)
    finally:
        subprocess.run([sys.executable, "-m", "kubemu.sandbox", "down", "--state-dir", str(state)], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60, check=False)


@pytest.mark.slow
def test_the_play_says_which_crds_the_hub_validates_against_or_fails(tmp_path, kube_crd_dir):
    """playbooks/sandbox.yml prints the CRD source and count; with an MCG_CRD_DIR that holds none it fails
    saying how to provide them, and starts nothing."""
    if kube_crd_dir is None:
        pytest.skip("no CRD directory to point MCG_CRD_DIR at")
    ok = _sandbox_play(tmp_path / "ok", {"MCG_CRD_DIR": str(kube_crd_dir)})
    assert ok.rc == 0, ok.stdout[-4000:]
    count = len(list(kube_crd_dir.glob("*.yaml")))
    assert f"Sandbox CRDs: {count} CRDs from MCG_CRD_DIR ({kube_crd_dir})" in ok.stdout, ok.stdout[-4000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    failed = _sandbox_play(tmp_path / "failed", {"MCG_CRD_DIR": str(empty)})
    out = " ".join(failed.stdout.split())
    assert failed.rc != 0, failed.stdout[-4000:]
    assert f"MCG_CRD_DIR {empty} holds no *.yaml CRD file." in out, failed.stdout[-4000:]
    assert "run 'bash scripts/setup.sh'" in out and "MCG_SANDBOX_SCHEMALESS=1" in out, failed.stdout[-4000:]
    assert not (tmp_path / "failed" / "state" / "sandbox.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "hung"])
def test_a_dead_hub_is_reported_and_the_next_up_says_it_starts_an_empty_one(tmp_path, kube_crd_dir, how):
    """The sandbox keeps its objects in memory only (KubeServer without state_dir): a hub whose process died (or
    hangs) is ``dead``, and ``up`` replaces it by an empty hub, saying so, instead of failing later with
    Connection refused or silently starting afresh."""
    import signal
    crd = ["--crd-dir", str(kube_crd_dir)] if kube_crd_dir else ["--allow-schemaless"]  # the CRDs are not the point
    first = _sandbox("up", *crd, state_dir=tmp_path)
    second = None
    try:
        api = client.CoreV1Api(config.new_client_from_config(str(tmp_path / "hub.kubeconfig")))
        api.create_namespace({"metadata": {"name": "before-the-crash"}})
        os.kill(first["pid"], signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        status = _sandbox("status", state_dir=tmp_path)
        assert status["state"] == "dead" and status["pid"] == first["pid"] and status["hub_url"] == first["hub_url"]
        assert ("is gone" if how == "killed" else "does not answer") in status["reason"]
        assert "objects are lost" in status["msg"] and "starts a new, empty hub" in status["msg"]
        second = _sandbox("up", *crd, state_dir=tmp_path)
        assert second["state"] == "started" and second["pid"] != first["pid"]
        assert second["previous"] == {"state": "dead", "pid": first["pid"], "hub_url": first["hub_url"],
                                      "reason": status["reason"]}
        assert "died" in second["msg"] and "are lost" in second["msg"] and second["hub_url"] in second["msg"]
        api = client.CoreV1Api(config.new_client_from_config(str(tmp_path / "hub.kubeconfig")))
        assert "before-the-crash" not in {n.metadata.name for n in api.list_namespace().items}  # truly empty
        assert _sandbox("up", *crd, state_dir=tmp_path)["state"] == "reused"
    finally:
        _sandbox("down", state_dir=tmp_path)
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)
    assert _sandbox("status", state_dir=tmp_path) == {"state": "absent"}


@pytest.mark.slow
def test_a_play_run_alone_on_a_dead_sandbox_hub_says_what_happened(tmp_path, kube_crd_dir):
    """playbooks/argocd.yml on its own (not through site.yml) against a dead sandbox hub: one clear message
    instead of Connection refused."""
    import signal
    from tests.helpers.ansible import run_playbook
    state = tmp_path / "sandbox"
    crd = ["--crd-dir", str(kube_crd_dir)] if kube_crd_dir else ["--allow-schemaless"]  # the CRDs are not the point
    first = _sandbox("up", *crd, state_dir=state)
    try:
        os.kill(first["pid"], signal.SIGKILL)
        time.sleep(0.5)
        res = run_playbook(tmp_path, "playbooks/argocd.yml", inventory=ROOT / "inventories" / "sandbox",
                           extra_vars={"mcg_sandbox_dir": str(state)})
    finally:
        _sandbox("down", state_dir=state)
    flat = " ".join(res.stdout.split())
    assert res.rc != 0
    assert f"The sandbox hub at {first['hub_url']} is dead: its process {first['pid']} is gone" in flat, res.stdout[-3000:]
    assert "Start it with site.yml" in flat and "Connection refused" not in flat
