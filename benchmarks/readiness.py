"""Readiness benchmark: N Cluster API clusters turning ready at random moments.

Prints, for the wait logic in one call (what the module runs on its host) and, with --playbook, through
ansible-playbook (the action plugin's progress rounds):

* requests served by the API per cluster (counted by the emulated API server);
* the delay between the last cluster turning ready and the wait returning.

Usage: python benchmarks/readiness.py [--clusters 100] [--spread 10] [--seed 1] [--playbook]
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".cache" / "collections"), str(ROOT)]

from kubemu import KubeServer  # noqa: E402

from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import run  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import kube_client  # noqa: E402
from tests.conftest import CRD_DIR  # noqa: E402
from tests.helpers.ansible import isolated_env, write_inventory  # noqa: E402

B2 = "cluster.x-k8s.io/v1beta2"
T0 = "2026-01-01T00:00:00Z"


def cond(ctype: str, status: str = "True", reason: str = "Ready", message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


PENDING = {"phase": "Pending", "conditions": [cond("Available", "False", "NotAvailable", "waiting"),
                                              cond("InfrastructureReady", "False", "NotReady", "creating VCN")]}
PROVISIONING = {"phase": "Provisioning", "initialization": {"infrastructureProvisioned": True},
                "conditions": [cond("Available", "False", "NotAvailable", "waiting"), cond("InfrastructureReady"),
                               cond("ControlPlaneInitialized", "False", "NotInitialized", "booting")]}
PROVISIONED = {"phase": "Provisioned",
               "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
               "conditions": [cond(t) for t in ("Available", "InfrastructureReady", "ControlPlaneInitialized",
                                                "ControlPlaneAvailable", "WorkersAvailable")]}


def server(tmp: Path) -> KubeServer:
    crds = tmp / "crds"
    crds.mkdir()
    (crds / "clusters.yaml").write_text((CRD_DIR / "cluster.x-k8s.io_clusters.yaml").read_text())
    srv = KubeServer(name="bench", crd_dir=crds).start()
    srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fleet"}})
    return srv


def populate(srv: KubeServer, n: int) -> list[str]:
    names = [f"wl-{i:03d}" for i in range(n)]
    for name in names:
        srv.create({"apiVersion": B2, "kind": "Cluster", "spec": {},
                    "metadata": {"name": name, "namespace": "fleet", "labels": {"bench": "yes"}}})
        srv.patch_status(B2, "Cluster", name, "fleet", PENDING)
    return names


def controller(srv: KubeServer, names: list[str], *, spread: float, start_after: float, seed: int,
               record: dict[str, float]) -> threading.Thread:
    """Each cluster: Provisioning at a random moment, then Secret + Provisioned at a later random moment."""
    rng = random.Random(seed)
    plan: list[tuple[float, str, str]] = []
    for name in names:
        a, b = sorted(rng.uniform(0, spread) for draw in range(2))
        plan += [(a, "provisioning", name), (b, "provisioned", name)]
    plan.sort()

    def drive() -> None:
        time.sleep(start_after)
        t0 = time.monotonic()
        for at, step, name in plan:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            if step == "provisioning":
                srv.patch_status(B2, "Cluster", name, "fleet", PROVISIONING)
            else:
                srv.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                            "metadata": {"name": f"{name}-kubeconfig", "namespace": "fleet"},
                            "data": {"value": "eA=="}})
                srv.patch_status(B2, "Cluster", name, "fleet", PROVISIONED)
        record["last_ready"] = time.monotonic()
        record["last_ready_wall"] = time.time()
    t = threading.Thread(target=drive, daemon=True)
    t.start()
    return t


def bench_direct(n: int, spread: float, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        srv = server(Path(tmp))
        try:
            names = populate(srv, n)
            client = kube_client({"kubeconfig": srv.kubeconfig_dict()})
            srv.reset_counters()
            record: dict[str, float] = {}
            worker = controller(srv, names, spread=spread, start_after=0.2, seed=seed, record=record)
            started = time.monotonic()
            result = run(client, {"name": None, "namespace": "fleet", "clusters": None, "label_selector": "bench=yes",
                                  "wait_for": "available", "timeout": 600, "fail_fast": True, "session": None})
            returned = time.monotonic()
            worker.join()
            total = sum(srv.requests.values())
            ready = sum(c["ready"] for c in result["clusters"])
            print(f"one call (module logic): {n} clusters over {spread:.0f}s, {ready} ready, "
                  f"wall {returned - started:.2f}s")
            print(f"  requests: {total} total = {total / n:.2f} per cluster  {dict(srv.requests)}")
            print(f"  delay last ready -> return: {(returned - record['last_ready']) * 1000:.0f} ms")
        finally:
            srv.stop()


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - multicluster.gitops.capi_cluster_wait:
        kubeconfig: "{{ kubeconfig }}"
        namespace: fleet
        label_selector: bench=yes
        timeout: 600
      register: waited
    - ansible.builtin.debug:
        msg: "returned_at={{ now().timestamp() }} ready={{ waited.clusters | selectattr('ready') | list | length }}"
"""


def bench_playbook(n: int, spread: float, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        srv = server(tmp_path)
        try:
            names = populate(srv, n)
            kubeconfig = srv.write_kubeconfig(tmp_path / "kubeconfig")
            pb = tmp_path / "pb.yml"
            pb.write_text(PLAYBOOK)
            inv = write_inventory(tmp_path, kubeconfig=kubeconfig)
            srv.reset_counters()
            record: dict[str, float] = {}
            # Start the clusters' changes once ansible-playbook is up (its start-up is not the module's doing).
            worker = controller(srv, names, spread=spread, start_after=3.0, seed=seed, record=record)
            started = time.monotonic()
            proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv), str(pb),
                                   "-e", json.dumps({"kubeconfig": str(kubeconfig)})], cwd=ROOT,
                                  env=isolated_env(tmp_path), capture_output=True, text=True, check=False)
            returned = time.monotonic()
            worker.join()
            progress = sum(1 for ln in proc.stdout.splitlines() if ln.startswith("capi_cluster_wait ["))
            rounds = srv.requests[("GET", "clusters")] // 2
            total = sum(srv.requests.values())
            print(f"ansible-playbook (progress rounds): rc={proc.returncode}, wall {returned - started:.2f}s, "
                  f"{progress} progress lines, about {rounds} rounds")
            print(f"  requests: {total} total = {total / n:.2f} per cluster  {dict(srv.requests)}")
            match = re.search(r"returned_at=([0-9.]+) ready=(\d+)", proc.stdout)
            if match:
                print(f"  {match[2]} ready; delay last ready -> task result (next task starts): "
                      f"{(float(match[1]) - record['last_ready_wall']) * 1000:.0f} ms")
            else:
                print(proc.stdout[-3000:])
            print(f"  delay last ready -> ansible-playbook exit: {(returned - record['last_ready']) * 1000:.0f} ms")
        finally:
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which the changes happen")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--playbook", action="store_true", help="also run through ansible-playbook")
    args = parser.parse_args()
    bench_direct(args.clusters, args.spread, args.seed)
    if args.playbook:
        bench_playbook(args.clusters, args.spread, args.seed)


if __name__ == "__main__":
    main()
