#!/usr/bin/env python
"""Event-Driven registration: from a CAPI Cluster turning ready to its Argo CD cluster Secret existing.

Runs the real ansible-rulebook CLI on extensions/eda/rulebooks/registration.yml (run_playbook of
playbooks/register.yml) against an emulated hub on this machine. The benchmark acts as Cluster API: it creates N
Clusters (Pending), waits until the source has seen them, then makes all N ready at once (control plane initialized,
kubeconfig Secret written) and polls the hub's store until each Argo CD Secret exists. Prints, per N and run:
median and worst seconds from ready to registered, hub API requests per cluster (source watches + playbook), and
the playbook runs it took; then the playbook runs per 100 clusters.

    . .venv/bin/activate && python benchmarks/eda_registration.py [--sizes 1,10,100] [--runs 3] [--batch-window 2]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".cache" / "collections")]

from kubemu import KubeServer  # noqa: E402
from tests.helpers.ansible import isolated_env  # noqa: E402

CRD_DIR = Path(os.environ.get("MCG_CRD_DIR", ROOT.parent / "shared" / "crds"))
B2 = "cluster.x-k8s.io/v1beta2"
READY = {"phase": "Provisioned",
         "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
         "conditions": [{"type": t, "status": "True", "reason": "Ready", "message": "",
                         "lastTransitionTime": "2026-01-01T00:00:00Z"}
                        for t in ("InfrastructureReady", "ControlPlaneInitialized")]}
# ansible-rulebook logs this (at -vv) once per run_playbook (ansible_rulebook/action/run_playbook.py).
PLAYBOOK_RUN = re.compile(r"Calling Ansible runner")


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def kubeconfig_value(hub: KubeServer, name: str) -> str:
    """A self-contained kubeconfig for a workload cluster that is never contacted (credential_mode kubeconfig)."""
    config = hub.kubeconfig_dict(client_cert=True, context=f"{name}-admin@{name}")
    config["clusters"][0]["cluster"]["server"] = f"https://{name}.workloads.example.test:6443"
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


def one_run(hub: KubeServer, n: int, log: Path, timeout: float) -> dict[str, float]:
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    names = [f"c-{i:03d}" for i in range(n)]
    for name in names:
        hub.create({"apiVersion": B2, "kind": "Cluster", "metadata": {"name": name, "namespace": ns},
                    "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OCICluster",
                                                   "name": name}}})
    values = {name: kubeconfig_value(hub, name) for name in names}
    time.sleep(4)  # the source's batch of Pending clusters (no playbook run: nothing is ready) has gone by
    runs_before = len(PLAYBOOK_RUN.findall(log.read_text()))
    hub.reset_counters()
    ready_at: dict[str, float] = {}
    for name in names:
        hub.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                    "metadata": {"name": f"{name}-kubeconfig", "namespace": ns,
                                 "labels": {"cluster.x-k8s.io/cluster-name": name}},
                    "data": {"value": values[name]}})
        hub.patch_status(B2, "Cluster", name, ns, READY)
        ready_at[name] = time.monotonic()
    registered: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(registered) < n and time.monotonic() < deadline:
        for name in names:
            if name not in registered and hub.get("v1", "Secret", f"cluster-{ns}.{name}", "argocd") is not None:
                registered[name] = time.monotonic()
        time.sleep(0.05)
    if len(registered) < n:
        raise SystemExit(f"only {len(registered)} of {n} clusters registered within {timeout:.0f}s; see {log}")
    time.sleep(1)  # let the run that registered the last one finish before counting
    latencies = [registered[k] - ready_at[k] for k in names]
    return {"median": statistics.median(latencies), "worst": max(latencies),
            "requests_per_cluster": sum(hub.requests.values()) / n,
            "playbook_runs": len(PLAYBOOK_RUN.findall(log.read_text())) - runs_before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-window", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    crds = Path(tempfile.mkdtemp(prefix="eda-bench-crds-"))
    (crds / "clusters.yaml").write_text(json.dumps(yaml.safe_load((CRD_DIR / "cluster.x-k8s.io_clusters.yaml")
                                                                  .read_text())))
    hub = KubeServer(name="eda-bench-hub", crd_dir=crds).start()
    hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    work = Path(tempfile.mkdtemp(prefix="eda-bench-"))
    kubeconfig = hub.write_kubeconfig(work / "hub.kubeconfig")
    inventory = work / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"hub": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "mcg_eda_kyverno_registration": False}}}}}}))
    (work / "vars.yml").write_text(yaml.safe_dump({"capi_batch_window": args.batch_window,
                                                   "capi_resync_period": 3600}))
    log = work / "rulebook.log"
    env = isolated_env(work, {"K8S_AUTH_KUBECONFIG": str(kubeconfig)})
    cmd = [str(Path(sys.executable).parent / "ansible-rulebook"), "--rulebook",
           str(ROOT / "extensions/eda/rulebooks/registration.yml"), "-i", str(inventory), "--vars",
           str(work / "vars.yml"), "-vv"]
    print(f"machine: {machine()}; batch window {args.batch_window}s; ansible-rulebook log {log}")
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(PLAYBOOK_RUN.findall(log.read_text())) < 1:  # the start-up resync's run
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ansible-rulebook did not start; see {log}")
            time.sleep(0.2)
        time.sleep(8)
        results: dict[int, list[dict[str, float]]] = {}
        print(f"{'clusters':>8} {'run':>3} {'median s':>9} {'worst s':>8} {'req/cluster':>11} {'playbook runs':>13}")
        for n in sizes:
            for run in range(1, args.runs + 1):
                r = one_run(hub, n, log, args.timeout)
                results.setdefault(n, []).append(r)
                print(f"{n:>8} {run:>3} {r['median']:>9.2f} {r['worst']:>8.2f} {r['requests_per_cluster']:>11.2f} "
                      f"{r['playbook_runs']:>13}", flush=True)
        print(f"\nover {args.runs} runs, ready -> Argo CD Secret (machine after: {machine()}):")
        for n, rs in results.items():
            print(f"  {n:>3} clusters: median {statistics.median(r['median'] for r in rs):.2f}s, "
                  f"worst {max(r['worst'] for r in rs):.2f}s, "
                  f"{statistics.mean(r['requests_per_cluster'] for r in rs):.2f} hub requests per cluster, "
                  f"{statistics.mean(r['playbook_runs'] for r in rs) * 100 / n:.1f} playbook runs per 100 clusters")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        hub.stop()
        shutil.rmtree(crds, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
