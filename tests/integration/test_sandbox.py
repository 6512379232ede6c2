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

ROOT = Path(__file__).resolve().parents[2]
V1B2 = "cluster.x-k8s.io/v1beta2"


def _cluster(name, annotations=None):
    return {"apiVersion": V1B2, "kind": "Cluster",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
            "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OCICluster",
                                           "name": name}}}


def _wait(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


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
    crd = ["--crd-dir", str(kube_crd_dir or tmp_path / "absent")]
    started = _sandbox("up", *crd, state_dir=tmp_path)
    try:
        assert started["state"] == "started"
        assert _sandbox("up", *crd, state_dir=tmp_path)["state"] == "reused"
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
