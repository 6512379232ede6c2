"""playbooks/register.yml on events of the capi_clusters source, and the rulebook end to end with ansible-rulebook,
against the emulated hub and the simulated Cluster API controller."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from tests.conftest import CRD_DIR, skip_module_without_capi_crd
from tests.helpers.ansible import ROOT, isolated_env, run_playbook

pytestmark = pytest.mark.integration

kubemu = pytest.importorskip("kubemu", reason="the emulated Kubernetes API (kubemu) is not available")
skip_module_without_capi_crd()

from kubemu.capi_sim import CapiSimulator  # noqa: E402

PLUGIN = ROOT / "extensions" / "eda" / "plugins" / "event_source" / "capi_clusters.py"
RULEBOOK = ROOT / "extensions" / "eda" / "rulebooks" / "registration.yml"
B2 = "cluster.x-k8s.io/v1beta2"


def _cluster(name: str, ns: str, *, oke: bool = False, labels: dict[str, str] | None = None) -> dict[str, Any]:
    infra = "OCIManagedCluster" if oke else "OCICluster"
    return {"apiVersion": B2, "kind": "Cluster", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": infra,
                                           "name": name}}}


def wait(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def crds(tmp_path: Path) -> Path:
    root = tmp_path / "crds"
    root.mkdir()
    (root / "clusters.yaml").write_text(json.dumps(yaml.safe_load((CRD_DIR / "cluster.x-k8s.io_clusters.yaml")
                                                                  .read_text())))
    return root


@pytest.fixture
def hub(kube_server_factory: Any, crds: Path, tmp_path: Path) -> tuple[Any, Path, str]:
    srv = kube_server_factory("eda-hub", crd_dir=crds)
    ns = f"w-{uuid.uuid4().hex[:6]}"
    for name in ("argocd", ns):
        srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return srv, srv.write_kubeconfig(tmp_path / "hub.kubeconfig"), ns


@pytest.fixture
def sim(hub: tuple[Any, Path, str], kube_server_factory: Any) -> Any:
    simulator = CapiSimulator(hub[0], kube_server_factory, step_seconds=0.2, tick_seconds=0.05).start()
    yield simulator
    simulator.stop()


def argocd_secret(srv: Any, ns: str, name: str) -> dict[str, Any] | None:
    return srv.get("v1", "Secret", f"cluster-{ns}.{name}", "argocd")


async def _events(args: dict[str, Any], until: Callable[[list[dict[str, Any]]], bool],
                  then: Callable[[], Any], timeout: float = 20.0) -> list[dict[str, Any]]:
    """The source's events until ``until`` holds; ``then()`` runs once the start-up resync is out."""
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(runpy.run_path(str(PLUGIN))["main"](queue, args))
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(events):
            assert time.monotonic() < deadline, events
            try:
                events.append(await asyncio.wait_for(queue.get(), 0.5))
            except asyncio.TimeoutError:
                continue
            if len(events) == 1:
                then()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    return events


def events_of(kubeconfig: Path, ns: str, until: Callable[[list[dict[str, Any]]], bool],
              then: Callable[[], Any]) -> list[dict[str, Any]]:
    return asyncio.run(_events({"kubeconfig": str(kubeconfig), "namespace": ns, "batch_window": 0.3,
                                "resync_period": 0}, until, then))


def register(tmp_path: Path, kubeconfig: Path, event: dict[str, Any], **hostvars: Any) -> Any:
    result = run_playbook(tmp_path, "playbooks/register.yml", kubeconfig=kubeconfig,
                          extra_vars={"ansible_eda": {"event": event}}, hostvars=hostvars, timeout=120)
    assert result.rc == 0, result.stdout
    return result


def _changes(kind: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda ev: any(e["capi"]["type"] == "changes" and e["capi"][kind] for e in ev)


def test_ready_registered_rotated_updated_deleted_unregistered(
        hub: tuple[Any, Path, str], sim: Any, tmp_path: Path) -> None:
    """Each event the source emits, given to the playbook, does what the rulebook promises: ready -> the Argo CD
    Secret exists; kubeconfig rewritten -> the Secret follows; deleted -> the Secret is gone.
    Upstream: ansible/ansible-rulebook @ v1.3.2 : ansible_rulebook/action/run_playbook.py,
    ansible_rulebook/action/helper.py (collect_extra_vars: the event reaches the playbook as ansible_eda.event)."""
    srv, kubeconfig, ns = hub
    ready = events_of(kubeconfig, ns, _changes("cluster_ready"), lambda: srv.create(_cluster("test-1", ns)))[-1]
    assert [c["name"] for c in ready["capi"]["cluster_ready"]] == ["test-1"]
    result = register(tmp_path / "ready", kubeconfig, ready)
    assert result.changed() == 1
    secret = argocd_secret(srv, ns, "test-1")
    assert secret is not None
    server = base64.b64decode(secret["data"]["server"]).decode()
    assert server == sim.workload_servers()[f"{ns}/test-1"].url

    # The kubeconfig is rewritten with a new client certificate (CAPI renews it): the Secret follows.
    live = srv.get("v1", "Secret", "test-1-kubeconfig", ns)
    fresh = sim.workload_servers()[f"{ns}/test-1"].kubeconfig_dict(client_cert=True, context="test-1-admin@test-1")
    live["data"]["value"] = base64.b64encode(yaml.safe_dump(fresh).encode()).decode()
    before = secret["data"]["config"]
    srv.update(live)
    rotated = {"capi": {"type": "changes", "namespace": ns, "cluster_ready": [], "cluster_deleted": [],
                        "cluster_failed": [],
                        "kubeconfig_rotated": [{"name": "test-1", "namespace": ns, "oke": False,
                                                "credential_mode": None, "state": "ready"}]}}
    register(tmp_path / "rotated", kubeconfig, rotated)
    assert argocd_secret(srv, ns, "test-1")["data"]["config"] != before

    gone = events_of(kubeconfig, ns, _changes("cluster_deleted"), lambda: srv.delete(B2, "Cluster", "test-1", ns))
    deleted = [e for e in gone if e["capi"]["type"] == "changes"][-1]
    register(tmp_path / "deleted", kubeconfig, deleted)
    assert argocd_secret(srv, ns, "test-1") is None


def test_policy_owned_clusters_are_left_to_the_policy(hub: tuple[Any, Path, str], sim: Any, tmp_path: Path) -> None:
    """With the Kyverno policy on, only OKE and service_account-mode clusters are written (docs/registration.md)."""
    srv, kubeconfig, ns = hub

    def create() -> None:
        srv.create(_cluster("kubeadm-1", ns))
        srv.create(_cluster("sa-1", ns, labels={"multicluster.gitops/credential-mode": "service_account"}))

    def two_ready(ev: list[dict[str, Any]]) -> bool:
        return sum(len(e["capi"].get("cluster_ready") or []) for e in ev if e["capi"]["type"] == "changes") >= 2
    both = events_of(kubeconfig, ns, two_ready, create)
    merged = {"capi": {"type": "changes", "namespace": ns, "cluster_deleted": [], "cluster_failed": [],
                       "kubeconfig_rotated": [],
                       "cluster_ready": [c for e in both if e["capi"]["type"] == "changes"
                                         for c in e["capi"]["cluster_ready"]]}}
    register(tmp_path / "policy", kubeconfig, merged, mcg_eda_kyverno_registration=True)
    assert argocd_secret(srv, ns, "kubeadm-1") is None
    assert argocd_secret(srv, ns, "sa-1") is not None


def test_resync_registers_what_was_missed_and_prunes_what_is_gone(
        hub: tuple[Any, Path, str], sim: Any, tmp_path: Path) -> None:
    """A resync event heals missed events: a ready cluster nobody reported gets its Secret, and the Secret of a
    cluster deleted while no one listened is pruned (module prune: its CAPI Cluster no longer exists)."""
    srv, kubeconfig, ns = hub
    srv.create(_cluster("missed-1", ns))
    wait(lambda: srv.get("v1", "Secret", "missed-1-kubeconfig", ns))
    entry = {"name": "missed-1", "namespace": ns, "state": "ready", "oke": False, "credential_mode": None}
    register(tmp_path / "resync-1", kubeconfig, {"capi": {"type": "resync", "namespace": ns, "clusters": [entry]}})
    assert argocd_secret(srv, ns, "missed-1") is not None
    srv.delete(B2, "Cluster", "missed-1", ns)
    wait(lambda: srv.get(B2, "Cluster", "missed-1", ns) is None)
    register(tmp_path / "resync-2", kubeconfig, {"capi": {"type": "resync", "namespace": ns, "clusters": []}})
    assert argocd_secret(srv, ns, "missed-1") is None


def test_failed_cluster_is_reported_by_name(hub: tuple[Any, Path, str], tmp_path: Path) -> None:
    kubeconfig, ns = hub[1], hub[2]
    event = {"capi": {"type": "changes", "namespace": ns, "cluster_ready": [], "kubeconfig_rotated": [],
                      "cluster_deleted": [],
                      "cluster_failed": [{"name": "bad-1", "namespace": ns, "state": "failed",
                                          "reason": f"kubeconfig Secret {ns}/bad-1-kubeconfig does not hold a YAML "
                                                    "kubeconfig in data.value"}]}}
    result = register(tmp_path, kubeconfig, event)
    assert f"Cluster {ns}/bad-1 failed: kubeconfig Secret {ns}/bad-1-kubeconfig" in result.stdout


def _rulebook_usable() -> str | None:
    if shutil.which("ansible-rulebook", path=str(Path(sys.executable).parent)) is None:
        return "ansible-rulebook is not installed (scripts/setup.sh installs it)"
    if shutil.which("java") is None:
        return "no Java runtime (ansible-rulebook needs Java 17: apt-get install openjdk-17-jre-headless)"
    return None


@pytest.mark.skipif(_rulebook_usable() is not None, reason=str(_rulebook_usable()))
def test_sandbox_rulebook_registers_and_unregisters_end_to_end(crds: Path, tmp_path: Path) -> None:
    """`python -m kubemu.sandbox up --rulebook`: the real ansible-rulebook CLI runs the rulebook beside the emulated
    hub; a Cluster the simulated controller makes ready gets its Argo CD Secret within seconds, deleting it removes
    the Secret, and `down` leaves no process behind.
    Upstream: ansible/ansible-rulebook @ v1.3.2 : ansible_rulebook/collection.py (event sources of a collection
    under extensions/eda/plugins/event_source, found through ansible-galaxy collection list)."""
    from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import SECRET, kube_client
    from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import NAMESPACE, Resource

    state = tmp_path / "sandbox"
    sandbox = [sys.executable, "-m", "kubemu.sandbox"]
    env = isolated_env(tmp_path)
    up = subprocess.run([*sandbox, "up", "--state-dir", str(state), "--crd-dir", str(crds), "--step-seconds", "0.2",
                         "--rulebook"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    started = json.loads(up.stdout)
    assert started["rulebook"]["state"] == "started", started
    log = state / "rulebook.log"
    try:
        hub = kube_client({"kubeconfig": str(state / "hub.kubeconfig")})
        hub.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
        clusters = Resource("cluster.x-k8s.io", "v1beta2", "clusters", "Cluster")
        wait(lambda: "resync" in log.read_text(), 90)
        hub.create(clusters, _cluster("e2e-1", "default"), "default")
        t0 = time.monotonic()
        wait(lambda: hub.get(SECRET, "cluster-default.e2e-1", "argocd"), 60)
        print(f"registered {time.monotonic() - t0:.1f}s after the Cluster was created")
        hub.delete(clusters, "e2e-1", "default")
        wait(lambda: hub.get(SECRET, "cluster-default.e2e-1", "argocd") is None, 60)
    except AssertionError:
        raise AssertionError(log.read_text()[-6000:])
    finally:
        down = subprocess.run([*sandbox, "down", "--state-dir", str(state)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    for pid in (started["pid"], started["rulebook"]["pid"]):
        with pytest.raises(OSError):
            os.kill(pid, 0)
