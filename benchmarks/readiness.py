"""Readiness benchmark: N Cluster API clusters turning ready at random moments.

Prints, through ansible-playbook (the capi_cluster_wait task with its action plugin's progress rounds) and for the
wait logic in one call (what the module runs on its host, in this process), each ``--repeat`` times with
min / median / max:

* the delay between the last cluster turning ready and the task's result (ansible-playbook: the next task's
  ``now()``; in-process: the call returning), and ansible-playbook's exit;
* requests served by the API per cluster (counted by the emulated API server);
* clusters evaluated per cluster (in-process: a wake-up evaluates only the clusters that changed);
* the machine, its cores and the 1-minute load average (the machine is shared: read the figures with it).

The API server is kubemu, served from this process (default), or with ``--api-server kube-apiserver`` a real
kube-apiserver with etcd built from ``engines/kube`` (``both``: one after the other), serving the Cluster API
release CRD of Cluster. On the real server the benchmark writes the clusters' status over HTTP (merge patches on
the ``/status`` subresource and the kubeconfig Secrets, ``--writers`` threads on keep-alive connections), counts
the requests of the benchmarked client in the API server's audit log (benchmarks/realhub.py), and prints how far
the writes kept to the planned spread.

Usage: python benchmarks/readiness.py [--clusters 1000] [--spread 10] [--seed 1] [--repeat 3] [--no-playbook]
       [--api-server kubemu|kube-apiserver|both] [--writers 8]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
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

from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import (  # noqa: E402
    spec_from_params, wait_for_clusters,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import kube_client  # noqa: E402
from tests.conftest import CRD_DIR  # noqa: E402
from tests.helpers.ansible import isolated_env, write_inventory  # noqa: E402

from benchmarks import realhub  # noqa: E402
from benchmarks.realhub import RealHub  # noqa: E402
from benchmarks.registration import machine, spread as _spread  # noqa: E402

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


def server(tmp: Path, api_server: str = "kubemu") -> KubeServer | RealHub:
    """A fresh API server serving the Cluster CRD, with the namespace ``fleet``."""
    if api_server == "kubemu":
        crds = tmp / "crds"
        crds.mkdir()
        (crds / "clusters.yaml").write_text((CRD_DIR / "cluster.x-k8s.io_clusters.yaml").read_text())
        srv: KubeServer | RealHub = KubeServer(name="bench", crd_dir=crds).start()
    else:
        srv = RealHub("readiness").start()
    srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fleet"}})
    return srv


def populate(srv: KubeServer | RealHub, n: int) -> list[str]:
    names = [f"wl-{i:03d}" for i in range(n)]
    for name in names:
        # The release CRD wants a non-empty spec (minProperties 1).
        ref = {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OCICluster", "name": name}
        srv.create({"apiVersion": B2, "kind": "Cluster", "spec": {"infrastructureRef": ref},
                    "metadata": {"name": name, "namespace": "fleet", "labels": {"bench": "yes"}}})
        srv.patch_status(B2, "Cluster", name, "fleet", PENDING)
    return names


def controller(srv: KubeServer | RealHub, names: list[str], *, spread: float, start_after: float, seed: int,
               record: dict[str, float], writers: int = 1) -> threading.Thread:
    """Each cluster: Provisioning at a random moment, then Secret + Provisioned at a later random moment.

    ``writers`` threads share the clusters (each cluster's changes stay in order, in one thread); the returned
    thread ends when all have. ``record`` gets ``last_ready`` / ``last_ready_wall`` (the latest start of a write
    making a cluster ready), ``lag`` (seconds the latest write started behind its planned moment) and ``end``
    (when the last write returned), each from ``time.monotonic()`` but ``last_ready_wall``.
    """
    rng = random.Random(seed)
    plan: list[tuple[float, str, str]] = []
    for name in names:
        a, b = sorted(rng.uniform(0, spread) for draw in range(2))
        plan += [(a, "provisioning", name), (b, "provisioned", name)]
    plan.sort()
    shard = {name: i % writers for i, name in enumerate(names)}
    lock = threading.Lock()
    record.update(lag=0.0, end=0.0, last_ready=0.0)

    def drive(t0: float, events: list[tuple[float, str, str]]) -> None:
        lag = 0.0
        for at, step, name in events:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            lag = max(lag, time.monotonic() - t0 - at)
            if step == "provisioning":
                srv.patch_status(B2, "Cluster", name, "fleet", PROVISIONING)
            else:
                srv.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                            "metadata": {"name": f"{name}-kubeconfig", "namespace": "fleet"},
                            "data": {"value": "eA=="}})
                # The moment the write that makes this cluster ready starts (the last one's is "last ready").
                with lock:
                    if time.monotonic() > record["last_ready"]:
                        record["last_ready"], record["last_ready_wall"] = time.monotonic(), time.time()
                srv.patch_status(B2, "Cluster", name, "fleet", PROVISIONED)
        with lock:
            record["lag"], record["end"] = max(record["lag"], lag), max(record["end"], time.monotonic())

    def run_all() -> None:
        time.sleep(start_after)
        t0 = time.monotonic()
        record["t0"] = t0
        threads = [threading.Thread(target=drive, args=(t0, [e for e in plan if shard[e[2]] == i]), daemon=True)
                   for i in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    t = threading.Thread(target=run_all, daemon=True)
    t.start()
    return t


def writer_figures(record: dict[str, float]) -> dict[str, float]:
    """How far the status writes kept to their plan: seconds from the first planned write to the end of the last,
    and the largest delay of a write's start behind its planned moment (ms)."""
    return {"writes_s": record["end"] - record["t0"], "lag_ms": record["lag"] * 1000}


def bench_direct(n: int, spread: float, seed: int, api_server: str = "kubemu", writers: int = 1) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        srv = server(Path(tmp), api_server)
        try:
            names = populate(srv, n)
            client = kube_client({"kubeconfig": srv.kubeconfig_dict()})
            srv.reset_counters()
            record: dict[str, float] = {}
            worker = controller(srv, names, spread=spread, start_after=0.2, seed=seed, record=record,
                                writers=writers)
            started = time.monotonic()
            result = wait_for_clusters(client, spec_from_params({
                "name": None, "namespace": "fleet", "clusters": None, "label_selector": "bench=yes",
                "wait_for": "available", "timeout": 600, "fail_fast": True, "session": None}))
            returned = time.monotonic()
            worker.join()
            total = sum(srv.requests.values())
            ready = sum(c["ready"] for c in result["clusters"])
            if ready != n:
                raise SystemExit(f"only {ready} of {n} clusters ready")
            return {"delay_ms": (returned - record["last_ready"]) * 1000, "requests": total / n,
                    "wall": returned - started, "evaluations": (result.get("evaluations") or 0) / n,
                    **writer_figures(record)}
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


def bench_playbook(n: int, spread: float, seed: int, api_server: str = "kubemu",
                   writers: int = 1) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        srv = server(tmp_path, api_server)
        try:
            names = populate(srv, n)
            kubeconfig = srv.write_kubeconfig(tmp_path / "kubeconfig")
            pb = tmp_path / "pb.yml"
            pb.write_text(PLAYBOOK)
            inv = write_inventory(tmp_path, kubeconfig=kubeconfig)
            srv.reset_counters()
            record: dict[str, float] = {}
            # Start the clusters' changes once ansible-playbook is up (its start-up is not the module's doing).
            worker = controller(srv, names, spread=spread, start_after=3.0, seed=seed, record=record,
                                writers=writers)
            started = time.monotonic()
            proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv), str(pb),
                                   "-e", json.dumps({"kubeconfig": str(kubeconfig)})], cwd=ROOT,
                                  env=isolated_env(tmp_path), capture_output=True, text=True, check=False)
            returned = time.monotonic()
            worker.join()
            total = sum(srv.requests.values())
            match = re.search(r"returned_at=([0-9.]+) ready=(\d+)", proc.stdout)
            if proc.returncode != 0 or not match or int(match[2]) != n:
                raise SystemExit(f"the playbook did not see {n} clusters ready:\n{proc.stdout[-3000:]}")
            return {"delay_ms": (float(match[1]) - record["last_ready_wall"]) * 1000,
                    "exit_ms": (returned - record["last_ready"]) * 1000, "requests": total / n,
                    "wall": returned - started, **writer_figures(record)}
        finally:
            srv.stop()


def header(api_server: str, n: int, spread: float, repeat: int, writers: int) -> str:
    """The "API server:" line of one server's runs."""
    runs = f"{n} clusters turning ready over {spread:.0f}s; {repeat} runs each; figures min/median/max"
    if api_server == "kubemu":
        return f"API server: kubemu (emulated, in the benchmark's process); {runs}"
    return (f"API server: {realhub.describe(realhub.built_version())}, Cluster CRD of {realhub.capi.CRD_TAG}; {runs}; status written over HTTP "
            f"(merge patch on /status, Secret POST) by {writers} threads on keep-alive connections, admin token; "
            f"requests: {realhub.COUNTING}")


def bench(api_server: str, args: argparse.Namespace, column: bool) -> None:
    """The runs against one server, then their figures; ``column`` names the server in each section."""
    n = args.clusters
    writers = 1 if api_server == "kubemu" else args.writers
    print(header(api_server, n, args.spread, args.repeat, writers), flush=True)
    on = f" on {api_server}" if column else ""
    runs: list[tuple[str, list[dict[str, float]], list[float]]] = []
    if not args.no_playbook:
        samples, loads = [], []
        for i in range(args.repeat):
            loads.append(os.getloadavg()[0])
            samples.append(bench_playbook(n, args.spread, args.seed + i, api_server, writers))
        runs.append((f"ansible-playbook{on}", samples, loads))
    samples, loads = [], []
    for i in range(args.repeat):
        loads.append(os.getloadavg()[0])
        samples.append(bench_direct(n, args.spread, args.seed + i, api_server, writers))
    runs.append((f"in-process call{on}", samples, loads))
    for label, samples, loads in runs:
        print(f"\n{label} (load1 median {statistics.median(loads):.2f}):")
        print(f"  last ready -> task result: {_spread([s['delay_ms'] for s in samples], '{:.0f}')} ms")
        if "exit_ms" in samples[0]:
            print(f"  last ready -> ansible-playbook exit: {_spread([s['exit_ms'] for s in samples], '{:.0f}')} ms")
        print(f"  requests per cluster: {_spread([s['requests'] for s in samples])}")
        if "evaluations" in samples[0]:
            print(f"  clusters evaluated per cluster: {_spread([s['evaluations'] for s in samples])}")
        if api_server != "kubemu":
            print(f"  spread achieved: the status writes took {_spread([s['writes_s'] for s in samples])} s "
                  f"(planned {args.spread:.0f} s); latest write start behind plan "
                  f"{_spread([s['lag_ms'] for s in samples], '{:.0f}')} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which the changes happen")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-playbook", action="store_true", help="only the in-process call")
    realhub.add_option(parser)
    parser.add_argument("--writers", type=int, default=8,
                        help="threads writing the clusters' status on kube-apiserver (kubemu: one, in process)")
    args = parser.parse_args()
    servers = realhub.selected(args.api_server)
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for i, api_server in enumerate(servers):
        if i:
            print()
        bench(api_server, args, column=servers != ["kubemu"])
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
