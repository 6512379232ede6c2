"""capi_cluster_wait over HTTP against the emulated API, the test acting as the CAPI controllers.

Status is driven like a controller would: ``srv.patch_status`` from a thread, with delays, while the
module waits on its watches.
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils._capi import capi_cluster_resource
from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import (
    ClusterFailed, WaitSpec, run, wait_for_clusters,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ResourceTimeout
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import KubeClient, kube_client
from tests.conftest import CRD_DIR, skip_module_without_capi_crd
from tests.helpers.ansible import run_playbook

pytestmark = pytest.mark.integration

kubemu = pytest.importorskip("kubemu", reason="the emulated Kubernetes API (kubemu) is not available")
skip_module_without_capi_crd()

B1 = "cluster.x-k8s.io/v1beta1"
B2 = "cluster.x-k8s.io/v1beta2"
T0 = "2026-01-01T00:00:00Z"
B2_READY_TYPES = ("Available", "InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable",
                  "WorkersAvailable", "RemoteConnectionProbe")


# --- objects as the controllers write them ---------------------------------------------------------------
def c2(ctype: str, status: str = "True", reason: str = "Ready", message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


def c1(ctype: str, status: str = "True", reason: str = "", message: str = "", severity: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {"type": ctype, "status": status, "lastTransitionTime": T0}
    c.update({k: v for k, v in (("reason", reason), ("message", message), ("severity", severity)) if v})
    return c


V2_PENDING = {"phase": "Pending", "conditions": [
    c2("Available", "False", "NotAvailable", "InfrastructureReady: OCICluster does not exist"),
    c2("InfrastructureReady", "False", "InfrastructureDoesNotExist", "OCICluster does not exist")]}
V2_PROVISIONING = {"phase": "Provisioning", "initialization": {"infrastructureProvisioned": True}, "conditions": [
    c2("Available", "False", "NotAvailable", "ControlPlaneAvailable: waiting"), c2("InfrastructureReady"),
    c2("ControlPlaneInitialized", "False", "NotInitialized", "Control plane not yet initialized")]}
V2_PROVISIONED = {"phase": "Provisioned",
                  "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
                  "conditions": [c2(t) for t in B2_READY_TYPES]}
V2_QUOTA = {"phase": "Provisioning", "conditions": [
    c2("Available", "False", "NotAvailable", "InfrastructureReady: quota exceeded"),
    c2("InfrastructureReady", "False", "OCIClusterProvisioningFailed", "quota exceeded for VM.Standard.E4.Flex")]}

V1_PENDING = {"phase": "Pending", "conditions": [
    c1("Ready", "False", "WaitingForInfrastructure", severity="Info"),
    c1("InfrastructureReady", "False", "WaitingForInfrastructure", severity="Info")]}
V1_PROVISIONING = {"phase": "Provisioning", "infrastructureReady": True, "conditions": [
    c1("Ready", "False", "WaitingForControlPlane", severity="Info"), c1("InfrastructureReady"),
    c1("ControlPlaneInitialized", "False", "WaitingForControlPlaneProviderInitialized", severity="Info"),
    c1("ControlPlaneReady", "False", "WaitingForControlPlane", severity="Info")]}
V1_PROVISIONED = {"phase": "Provisioned", "infrastructureReady": True, "controlPlaneReady": True, "conditions": [
    c1("Ready"), c1("InfrastructureReady"), c1("ControlPlaneInitialized"), c1("ControlPlaneReady")]}


class Hub:
    """One namespace of an emulated server, with the verbs a test-controller needs."""

    def __init__(self, srv: Any, namespace: str | None = None) -> None:
        self.srv = srv
        self.ns = namespace or f"capi-{uuid.uuid4().hex[:6]}"
        self.namespace(self.ns)
        self.client: KubeClient = kube_client({"kubeconfig": srv.kubeconfig_dict()})

    def namespace(self, name: str) -> None:
        if self.srv.get("v1", "Namespace", name) is None:
            self.srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def cluster(self, name: str, *, api_version: str = B2, status: dict[str, Any] | None = None,
                ns: str | None = None, labels: dict[str, str] | None = None) -> None:
        meta: dict[str, Any] = {"name": name, "namespace": ns or self.ns}
        if labels:
            meta["labels"] = labels
        self.srv.create({"apiVersion": api_version, "kind": "Cluster", "metadata": meta, "spec": {}})
        if status:
            self.status(name, status, api_version=api_version, ns=ns)

    def status(self, name: str, status: dict[str, Any], *, api_version: str = B2, ns: str | None = None,
               endpoint: bool = False) -> None:
        if endpoint:
            obj = self.srv.get(api_version, "Cluster", name, ns or self.ns)
            obj["spec"]["controlPlaneEndpoint"] = {"host": f"{name}.example.test", "port": 6443}
            self.srv.update(obj)
        self.srv.patch_status(api_version, "Cluster", name, ns or self.ns, status)

    def kubeconfig_secret(self, name: str, ns: str | None = None) -> None:
        self.srv.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                         "metadata": {"name": f"{name}-kubeconfig", "namespace": ns or self.ns,
                                      "labels": {"cluster.x-k8s.io/cluster-name": name}},
                         "data": {"value": "a3ViZWNvbmZpZw=="}})

    def provision(self, name: str, *, api_version: str = B2, delay: float = 0.3, ns: str | None = None) -> None:
        """Pending -> Provisioning -> Provisioned, kubeconfig Secret written with the control plane."""
        v1 = api_version == B1
        time.sleep(delay)
        self.status(name, V1_PROVISIONING if v1 else V2_PROVISIONING, api_version=api_version, ns=ns, endpoint=True)
        time.sleep(delay)
        self.kubeconfig_secret(name, ns)
        self.status(name, V1_PROVISIONED if v1 else V2_PROVISIONED, api_version=api_version, ns=ns)


def in_background(fn: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def params(**kw: Any) -> dict[str, Any]:
    base = {"name": None, "namespace": None, "clusters": None, "label_selector": None, "wait_for": "available",
            "timeout": 20, "fail_fast": True, "session": None}
    base.update(kw)
    return base


def count(srv: Any, method: str, what: str) -> int:
    return srv.requests[(method, what)]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _crd_dir(root: Path, *, only_v1beta1: bool = False) -> Path:
    """A directory holding just the Cluster CRD (optionally serving v1beta1 only, like an older CAPI)."""
    crd = yaml.load((CRD_DIR / "cluster.x-k8s.io_clusters.yaml").read_text(), Loader=_LOADER)
    if only_v1beta1:
        for version in crd["spec"]["versions"]:
            version["served"] = version["storage"] = version["name"] == "v1beta1"
    root.mkdir(parents=True, exist_ok=True)
    (root / "clusters.yaml").write_text(json.dumps(crd))  # JSON is YAML, and much faster to write
    return root


@pytest.fixture(scope="module")
def capi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    srv = kubemu.KubeServer(name="capi", crd_dir=_crd_dir(tmp_path_factory.mktemp("crds"))).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def v1beta1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    crds = _crd_dir(tmp_path_factory.mktemp("crds-v1beta1"), only_v1beta1=True)
    srv = kubemu.KubeServer(name="old-capi", crd_dir=crds).start()
    yield srv
    srv.stop()


@pytest.fixture
def hub(capi_server: Any) -> Hub:
    """A fresh namespace on the module's server."""
    return Hub(capi_server)


@pytest.fixture
def own_hub(kube_server_factory: Any, tmp_path: Path) -> Hub:
    """A server of its own: for tests that drop watches, compact history or count requests."""
    return Hub(kube_server_factory("workloads", crd_dir=_crd_dir(tmp_path / "crds")))


@pytest.fixture
def v1beta1_hub(v1beta1_server: Any) -> Hub:
    """A fresh namespace on a server where cluster.x-k8s.io serves v1beta1 only."""
    return Hub(v1beta1_server)


# --- shapes --------------------------------------------------------------------------------------------
def test_v1beta2_pending_provisioning_provisioned(own_hub: Hub) -> None:
    own_hub.cluster("prod-1", status=V2_PENDING)
    own_hub.srv.reset_counters()
    worker = in_background(lambda: own_hub.provision("prod-1"))
    result = run(own_hub.client, params(name="prod-1", namespace=own_hub.ns))
    worker.join()
    (c,) = result["clusters"]
    assert result["api_version"] == B2
    assert (c["state"], c["phase"], c["ready"], c["kubeconfig_secret_found"]) == ("ready", "Provisioned", True, True)
    assert c["control_plane_endpoint"] == "https://prod-1.example.test:6443"
    assert c["kubeconfig_secret"] == "prod-1-kubeconfig"
    assert 0.5 <= c["seconds_waited"] < 10
    assert {x["type"] for x in c["conditions"]} == set(B2_READY_TYPES)
    # One discovery, one LIST and one watch per kind: no polling.
    assert count(own_hub.srv, "GET", "/apis/cluster.x-k8s.io") == 1
    assert count(own_hub.srv, "GET", "clusters") == 2
    assert count(own_hub.srv, "GET", "secrets") == 2


def test_v1beta1_server_pending_provisioning_provisioned(v1beta1_hub: Hub) -> None:
    hub = v1beta1_hub
    hub.cluster("old-1", api_version=B1, status=V1_PENDING)
    worker = in_background(lambda: hub.provision("old-1", api_version=B1))
    result = run(hub.client, params(name="old-1", namespace=hub.ns, wait_for="control_plane_ready"))
    worker.join()
    assert result["api_version"] == B1
    (c,) = result["clusters"]
    assert (c["state"], c["phase"], c["api_version"]) == ("ready", "Provisioned", B1)
    assert [x["type"] for x in c["conditions"]] == [
        "Ready", "InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneReady"]


def test_control_plane_initialized_returns_before_available(hub: Hub) -> None:
    partial = {"phase": "Provisioned",
               "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
               "conditions": [c2("InfrastructureReady"), c2("ControlPlaneInitialized"),
                              c2("ControlPlaneAvailable", "False", "NotAvailable", "1 of 3 available")]}
    hub.cluster("cp-1", status=partial)
    hub.kubeconfig_secret("cp-1")
    assert run(hub.client, params(name="cp-1", namespace=hub.ns,
                                  wait_for="control_plane_initialized"))["clusters"][0]["ready"]
    with pytest.raises(ResourceTimeout, match=r"cp-1: phase Provisioned; ControlPlaneAvailable=False "
                                              r"\(NotAvailable: 1 of 3 available\)"):
        run(hub.client, params(name="cp-1", namespace=hub.ns, wait_for="control_plane_ready", timeout=1))


# --- failures --------------------------------------------------------------------------------------------
def test_failure_midway_fails_fast_with_condition_text(hub: Hub) -> None:
    hub.cluster("prod-1", status=V2_PENDING)
    hub.cluster("prod-2", status=V2_PENDING)

    def controller() -> None:
        time.sleep(0.3)
        hub.status("prod-1", V2_PROVISIONING)
        time.sleep(0.3)
        hub.status("prod-2", V2_QUOTA)
    worker = in_background(controller)
    started = time.monotonic()
    with pytest.raises(ClusterFailed) as exc:
        run(hub.client, params(clusters=[{"name": "prod-1", "namespace": None}, {"name": "prod-2", "namespace": None}],
                               namespace=hub.ns, timeout=60))
    worker.join()
    assert time.monotonic() - started < 10  # well before the 60 s timeout
    assert ("prod-2: phase Provisioning; Available=False (NotAvailable: InfrastructureReady: quota exceeded); "
            "InfrastructureReady=False (OCIClusterProvisioningFailed: quota exceeded for VM.Standard.E4.Flex)"
            ) in exc.value.msg
    assert "prod-1" not in exc.value.msg  # still provisioning normally: not a failure
    assert {c["name"]: c["state"] for c in exc.value.result["clusters"]} == {"prod-1": "waiting", "prod-2": "failed"}


def test_v1beta1_error_severity_fails_fast(v1beta1_hub: Hub) -> None:
    hub = v1beta1_hub
    hub.cluster("old-1", api_version=B1, status=V1_PENDING)
    failed = {"phase": "Provisioning", "conditions": [
        c1("Ready", "False", "VcnReconciliationFailed", "VCN limit reached", severity="Error"),
        c1("InfrastructureReady", "False", "VcnReconciliationFailed", "VCN limit reached", severity="Error")]}
    worker = in_background(lambda: (time.sleep(0.3), hub.status("old-1", failed, api_version=B1)))
    with pytest.raises(ClusterFailed, match=r"old-1: phase Provisioning; Ready=False \(VcnReconciliationFailed: VCN "
                                            r"limit reached\); InfrastructureReady=False"):
        run(hub.client, params(name="old-1", namespace=hub.ns, timeout=60))
    worker.join()


def test_timeout_lists_false_conditions(hub: Hub) -> None:
    hub.cluster("slow-1", status=V2_PROVISIONING)
    hub.cluster("fast-1", status=V2_PROVISIONED)
    hub.kubeconfig_secret("fast-1")
    started = time.monotonic()
    with pytest.raises(ResourceTimeout) as exc:
        run(hub.client, params(clusters=[{"name": "slow-1", "namespace": None}, {"name": "fast-1", "namespace": None}],
                               namespace=hub.ns, timeout=1))
    assert 1 <= time.monotonic() - started < 5
    msg = exc.value.msg
    assert msg.startswith(f"Timed out after 1s waiting on {hub.client.host} for 1 of 2 Cluster(s) to reach available: ")
    assert ("slow-1: phase Provisioning; Available=False (NotAvailable: ControlPlaneAvailable: waiting); "
            "ControlPlaneInitialized=False (NotInitialized: Control plane not yet initialized); "
            "kubeconfig Secret slow-1-kubeconfig not found") in msg
    assert "fast-1" not in msg
    states = {c["name"]: (c["state"], c["ready"]) for c in exc.value.result["clusters"]}
    assert states == {"slow-1": ("waiting", False), "fast-1": ("ready", True)}


def test_cluster_deleted_during_wait(hub: Hub) -> None:
    hub.cluster("gone-1", status=V2_PENDING)
    worker = in_background(lambda: (time.sleep(0.3), hub.srv.delete(B2, "Cluster", "gone-1", hub.ns)))
    with pytest.raises(ClusterFailed, match="gone-1: deleted during the wait"):
        run(hub.client, params(name="gone-1", namespace=hub.ns, timeout=30))
    worker.join()


def test_waits_for_the_kubeconfig_secret(hub: Hub) -> None:
    hub.cluster("nosecret-1", status=V2_PROVISIONED)
    worker = in_background(lambda: (time.sleep(0.4), hub.kubeconfig_secret("nosecret-1")))
    result = run(hub.client, params(name="nosecret-1", namespace=hub.ns))
    worker.join()
    assert result["clusters"][0]["kubeconfig_secret_found"]
    assert result["clusters"][0]["seconds_waited"] >= 0.3


# --- watch resilience --------------------------------------------------------------------------------------
def test_dropped_watch_stream_is_resumed(own_hub: Hub) -> None:
    own_hub.cluster("drop-1", status=V2_PENDING)
    own_hub.srv.reset_counters()

    def controller() -> None:
        time.sleep(0.3)
        own_hub.srv.drop_watches()
        own_hub.status("drop-1", V2_PROVISIONING)  # while no stream is open
        time.sleep(0.3)
        own_hub.srv.drop_watches()
        own_hub.kubeconfig_secret("drop-1")
        own_hub.status("drop-1", V2_PROVISIONED)
    worker = in_background(controller)
    out = wait_for_clusters(own_hub.client, WaitSpec(names=[f"{own_hub.ns}/drop-1"], timeout=20),
                            resource=capi_cluster_resource(own_hub.client))
    worker.join()
    assert out["done"] and out["clusters"][0]["phase"] == "Provisioned"
    # Resumed from the last resourceVersion (the change made while no stream was open is replayed):
    # no new LIST, one more watch per drop.
    assert out["watch"]["clusters"] == {"relists": 0, "resumes": 2}
    assert count(own_hub.srv, "GET", "clusters") == 1 + 3


def test_410_gone_relists(own_hub: Hub) -> None:
    own_hub.cluster("gone-410", status=V2_PENDING)

    def controller() -> None:
        time.sleep(0.3)
        # History moves on (a write the module does not watch) and is compacted, then the streams drop:
        # resuming from the resourceVersion the module holds now gets 410 Gone.
        own_hub.srv.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "unrelated", "namespace": own_hub.ns}})
        own_hub.srv.compact()
        own_hub.srv.drop_watches()
        time.sleep(0.2)
        own_hub.kubeconfig_secret("gone-410")
        own_hub.status("gone-410", V2_PROVISIONED)
    worker = in_background(controller)
    own_hub.srv.reset_counters()
    out = wait_for_clusters(own_hub.client, WaitSpec(names=[f"{own_hub.ns}/gone-410"], timeout=20),
                            resource=capi_cluster_resource(own_hub.client))
    worker.join()
    assert out["done"] and out["clusters"][0]["kubeconfig_secret_found"]
    assert out["watch"]["clusters"]["relists"] == 1
    assert out["watch"]["secrets"]["relists"] == 1
    # LIST + watch; after the drop a watch from the held resourceVersion answers 410; LIST + watch again.
    assert count(own_hub.srv, "GET", "clusters") == 5


# --- many clusters, selectors -----------------------------------------------------------------------------
def test_hundred_clusters_at_once(own_hub: Hub) -> None:
    names = [f"fleet-{i:03d}" for i in range(100)]
    for n in names:
        own_hub.cluster(n, status=V2_PENDING, labels={"fleet": "f1"})
    own_hub.srv.reset_counters()
    rng = random.Random(7)
    order = rng.sample(names, len(names))

    def controller() -> None:
        for n in order:
            time.sleep(rng.uniform(0, 0.02))
            own_hub.kubeconfig_secret(n)
            own_hub.status(n, V2_PROVISIONED)
    worker = in_background(controller)
    result = run(own_hub.client, params(label_selector="fleet=f1", namespace=own_hub.ns, timeout=60))
    worker.join()
    assert sorted(c["name"] for c in result["clusters"]) == names
    assert all(c["ready"] for c in result["clusters"])
    total = sum(own_hub.srv.requests.values())
    assert total <= 10, own_hub.srv.requests  # constant, not per cluster


def test_label_selector_across_namespaces_includes_new_clusters(hub: Hub) -> None:
    other = f"{hub.ns}-b"
    hub.namespace(other)
    label = {"fleet": hub.ns}
    hub.cluster("a", status=V2_PENDING, labels=label)
    hub.cluster("unlabelled", status=V2_PENDING)

    def controller() -> None:
        time.sleep(0.3)
        hub.cluster("b", status=V2_PENDING, ns=other, labels=label)
        hub.provision("a")
        hub.provision("b", ns=other)
    worker = in_background(controller)
    result = run(hub.client, params(label_selector=f"fleet={hub.ns}", timeout=30))
    worker.join()
    assert sorted((c["namespace"], c["name"], c["ready"]) for c in result["clusters"]) == [
        (hub.ns, "a", True), (other, "b", True)]


# --- through ansible-playbook: progress, check mode, idempotence -------------------------------------------
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/multicluster.gitops.k8s:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: Look without waiting
      multicluster.gitops.capi_cluster_wait:
        kubeconfig: "{{ lookup('ansible.builtin.file', kubeconfig) | from_yaml }}"
        clusters: "{{ clusters }}"
        namespace: "{{ ns }}"
      check_mode: true
      register: looked
    - name: Wait for the workload clusters
      multicluster.gitops.capi_cluster_wait:
        clusters: "{{ clusters }}"
        namespace: "{{ ns }}"
        timeout: 60
      register: waited
    - name: Wait again
      multicluster.gitops.capi_cluster_wait:
        clusters: "{{ clusters }}"
        namespace: "{{ ns }}"
        timeout: 60
      register: again
    - name: Show the results
      ansible.builtin.debug:
        msg: >-
          looked={{ looked.clusters | map(attribute='state') | list }} changed={{ looked.changed }}
          waited={{ waited.clusters | map(attribute='ready') | list }} changed={{ waited.changed }}
          again={{ again.clusters | map(attribute='ready') | list }} changed={{ again.changed }}
          session={{ 'session' in waited or 'waiting' in waited }}
"""


def test_playbook_prints_progress_checks_and_is_idempotent(own_hub: Hub, tmp_path: Path) -> None:
    for n in ("pb-1", "pb-2"):
        own_hub.cluster(n, status=V2_PENDING)
    kubeconfig = own_hub.srv.write_kubeconfig(tmp_path / "hub.kubeconfig")
    extra = {"kubeconfig": str(kubeconfig), "ns": own_hub.ns, "clusters": [{"name": "pb-1"}, {"name": "pb-2"}]}

    def module_watching(after: int) -> int:
        """Block until the module lists and watches again (two more GETs on clusters)."""
        deadline = time.monotonic() + 60
        while count(own_hub.srv, "GET", "clusters") < after + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return count(own_hub.srv, "GET", "clusters")

    def controller() -> None:
        # check-mode task: 1 LIST; waiting task: round 1 lists (to show the initial state), round 2 lists and watches
        seen = module_watching(2)
        steps = (("pb-1", V2_PROVISIONING), ("pb-2", V2_PROVISIONING), ("pb-1", V2_PROVISIONED),
                 ("pb-2", V2_PROVISIONED))
        for i, (name, status) in enumerate(steps):
            if status is V2_PROVISIONED:
                own_hub.kubeconfig_secret(name)
            own_hub.status(name, status)
            if i < len(steps) - 1:  # after the last change the module returns instead of watching again
                seen = module_watching(seen)
    own_hub.srv.reset_counters()
    worker = in_background(controller)
    res = run_playbook(tmp_path, PLAYBOOK, extra_vars=extra, verbosity=1)
    worker.join()
    out = res.stdout
    assert res.rc == 0, out
    # -v prints every result: the token of the kubeconfig given as a dict appears nowhere.
    assert "kubeconfig_secret: pb-1-kubeconfig" in out
    assert own_hub.srv.admin_token not in out
    assert ("looked=['waiting', 'waiting'] changed=False waited=[True, True] changed=False again=[True, True] "
            "changed=False session=False") in " ".join(out.split())
    assert res.changed() == 0

    def progress(task: str) -> list[str]:
        block = out.split(f"TASK [{task}]", 1)[1].split("TASK [", 1)[0]
        return [ln for ln in block.splitlines() if ln.startswith("capi_cluster_wait [localhost]")]

    # Check mode shows the current state and waits for nothing.
    looked = progress("Look without waiting")
    assert [ln.split(";")[0] for ln in looked] == [
        "capi_cluster_wait [localhost] pb-1: phase Pending", "capi_cluster_wait [localhost] pb-2: phase Pending"], out
    # Each change shows up as its own line, in the order it happened.
    lines = progress("Wait for the workload clusters")
    assert lines[:2] == looked, out
    # Available stays False with the same reason (only its message changed): not repeated.
    assert lines[2] == ("capi_cluster_wait [localhost] pb-1: phase Pending -> Provisioning; InfrastructureReady=True; "
                        "ControlPlaneInitialized=False (NotInitialized: Control plane not yet initialized)"), out
    assert lines[3].startswith("capi_cluster_wait [localhost] pb-2: phase Pending -> Provisioning;"), out
    assert lines[4].startswith("capi_cluster_wait [localhost] pb-1: phase Provisioning -> Provisioned;"), out
    assert "; kubeconfig Secret pb-1-kubeconfig present; READY after " in lines[4], out
    assert lines[5].startswith("capi_cluster_wait [localhost] pb-2: phase Provisioning -> Provisioned;"), out
    assert len(lines) == 6, out
    # Run again: already there, one line per cluster, nothing changed. Seconds count from the task's start
    # (module start-up included), so they are the start-up time, below what the real wait took.
    again = progress("Wait again")
    waited_s = [int(re.search(r"READY after (\d+)s", ln).group(1)) for ln in lines[4:6]]
    again_s = [int(re.search(r"READY after (\d+)s", ln).group(1)) for ln in again]
    assert len(again) == 2 and max(again_s) < min(waited_s), out


HEARTBEAT_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/multicluster.gitops.k8s:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: Wait with a heartbeat
      multicluster.gitops.capi_cluster_wait:
        clusters: [{name: hb-ready}, {name: hb-slow}]
        namespace: "{{ ns }}"
        timeout: 15
        heartbeat: 2
        stop_on_failure: false
      register: beating
    - name: Wait without a heartbeat
      multicluster.gitops.capi_cluster_wait:
        clusters: [{name: hb-ready}, {name: hb-slow}]
        namespace: "{{ ns }}"
        timeout: 5
        heartbeat: 0
        stop_on_failure: false
      register: silent
    - name: Show the results
      ansible.builtin.debug:
        msg: >-
          ready={{ beating.ready_clusters | map(attribute='name') | list }}
          not_ready={{ beating.failed_clusters | map(attribute='name') | list }}
          silent={{ silent.failed_clusters | map(attribute='state') | list }}
"""


def test_playbook_prints_a_heartbeat_while_nothing_changes(own_hub: Hub, tmp_path: Path) -> None:
    """A cluster that never moves: the heartbeat line names it every `heartbeat` seconds; `heartbeat: 0` prints none.
    With stop_on_failure false the timeout does not fail the task: the cluster is listed as not ready."""
    own_hub.cluster("hb-ready", status=V2_PROVISIONED)
    own_hub.kubeconfig_secret("hb-ready")
    own_hub.cluster("hb-slow", status=V2_PROVISIONING)
    kubeconfig = own_hub.srv.write_kubeconfig(tmp_path / "hub.kubeconfig")
    res = run_playbook(tmp_path, HEARTBEAT_PLAYBOOK, extra_vars={"kubeconfig": str(kubeconfig), "ns": own_hub.ns})
    out = res.stdout
    assert res.rc == 0, out
    assert "ready=['hb-ready'] not_ready=['hb-slow'] silent=['waiting']" in " ".join(out.split()), out

    def beats(task: str) -> list[str]:
        block = out.split(f"TASK [{task}]", 1)[1].split("TASK [", 1)[0]
        return [ln for ln in block.splitlines() if "still waiting after" in ln]

    beating = beats("Wait with a heartbeat")
    assert beating, out
    assert all(re.fullmatch(r"capi_cluster_wait \[localhost\] still waiting after \d+s: 1 of 2 Cluster\(s\) ready, "
                            r"1 pending: hb-slow \(Provisioning\); timeout in \d+s", ln) for ln in beating), beating
    assert beats("Wait without a heartbeat") == [], out
    # The task warns, naming the cluster and its condition text.
    assert "[WARNING]: 1 of 2 Cluster(s) are not ready (stop_on_failure is false, the task goes on): hb-slow: " \
           "phase Provisioning;" in out, out
