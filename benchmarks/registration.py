#!/usr/bin/env python
"""Registration of N CAPI clusters in Argo CD: one argocd_cluster_secret call vs a loop of kubernetes.core tasks.

Runs against kubemu on this machine (one hub with the CRDs, three workload API servers that the N kubeconfigs
point to) and prints, per approach and N: wall time of the ansible-playbook run, time of the registering tasks
alone (measured inside the playbook), hub API requests per cluster, and the writes made by an
immediate re-run with nothing to change.

    . .venv/bin/activate && python benchmarks/registration.py [--sizes 10,100,1000] [--loop-sizes 10,100]
"""
from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".cache" / "collections")]

from kubemu import KubeServer  # noqa: E402
from tests.helpers.ansible import run_playbook  # noqa: E402

CRD_DIR = Path(os.environ.get("MCG_CRD_DIR", ROOT.parent / "shared" / "crds"))

CLOCK_START = """
    - name: Start the clock
      ansible.builtin.set_fact:
        bench_t0: "{{ now().timestamp() }}"
"""
CLOCK_STOP = """
    - name: Stop the clock
      ansible.builtin.debug:
        msg: "BENCH_SECONDS={{ now().timestamp() - (bench_t0 | float) }}"
"""

MODULE_PLAY = """
- hosts: hub
  gather_facts: false
  tasks:
""" + CLOCK_START + """
    - name: Register every cluster of the namespace
      multicluster.gitops.argocd_cluster_secret:
        kubeconfig: "{{ mcg_hub_kubeconfig }}"
        namespace: "{{ bench_namespace }}"
        argocd_namespace: argocd-module
        credential_mode: kubeconfig
""" + CLOCK_STOP

LOOP_PLAY = """
- hosts: hub
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s:
      kubeconfig: "{{ mcg_hub_kubeconfig }}"
  tasks:
""" + CLOCK_START + """
    - name: List the CAPI Clusters
      kubernetes.core.k8s_info:
        api_version: cluster.x-k8s.io/v1beta2
        kind: Cluster
        namespace: "{{ bench_namespace }}"
      register: clusters
    - name: Read each kubeconfig Secret
      kubernetes.core.k8s_info:
        kind: Secret
        namespace: "{{ item.metadata.namespace }}"
        name: "{{ item.metadata.name }}-kubeconfig"
      loop: "{{ clusters.resources }}"
      loop_control:
        label: "{{ item.metadata.name }}"
      register: kubeconfigs
      no_log: true
    - name: Write each Argo CD cluster Secret
      kubernetes.core.k8s:
        state: present
        definition:
          apiVersion: v1
          kind: Secret
          type: Opaque
          metadata:
            name: "cluster-{{ item.item.metadata.namespace }}-{{ item.item.metadata.name }}"
            namespace: argocd-loop
            labels:
              argocd.argoproj.io/secret-type: cluster
          data:
            name: "{{ item.item.metadata.name | b64encode }}"
            server: "{{ kc.clusters[0].cluster.server | b64encode }}"
            config: "{{ {'tlsClientConfig': {'caData': kc.clusters[0].cluster['certificate-authority-data'],
                        'certData': kc.users[0].user['client-certificate-data'], 'insecure': false,
                        'keyData': kc.users[0].user['client-key-data']}} | to_json | b64encode }}"
      vars:
        kc: "{{ item.resources[0].data.value | b64decode | from_yaml }}"
      loop: "{{ kubeconfigs.results }}"
      loop_control:
        label: "{{ item.item.metadata.name }}"
      no_log: true
""" + CLOCK_STOP


def populate(hub: KubeServer, workloads: list[KubeServer], namespace: str, n: int) -> None:
    hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kubeconfigs = [base64.b64encode(yaml.safe_dump(w.kubeconfig_dict(client_cert=True)).encode()).decode()
                   for w in workloads]
    for i in range(n):
        name = f"c{i:04d}"
        hub.create({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                    "metadata": {"name": name, "namespace": namespace, "labels": {"env": "bench"}},
                    "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                                   "kind": "OCICluster", "name": name}},
                    "status": {"initialization": {"controlPlaneInitialized": True}}})
        hub.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                    "metadata": {"name": f"{name}-kubeconfig", "namespace": namespace,
                                 "labels": {"cluster.x-k8s.io/cluster-name": name}},
                    "data": {"value": kubeconfigs[i % len(kubeconfigs)]}})


def run(hub: KubeServer, kubeconfig: Path, tmp: Path, play: str, namespace: str) -> tuple[float, float, int, int]:
    """(wall seconds, seconds of the registering tasks, requests, writes) of one playbook run."""
    hub.reset_counters()
    start = time.perf_counter()
    result = run_playbook(tmp, play, kubeconfig=kubeconfig, extra_vars={"bench_namespace": namespace},
                          timeout=3600)
    seconds = time.perf_counter() - start
    if result.rc != 0:
        raise SystemExit(f"playbook failed:\n{result.stdout[-3000:]}")
    requests = sum(hub.requests.values())
    writes = sum(v for (method, plural), v in hub.requests.items() if method != "GET")
    tasks = float(re.search(r"BENCH_SECONDS=([0-9.]+)", result.stdout).group(1))
    return seconds, tasks, requests, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="N for the module")
    parser.add_argument("--loop-sizes", default="10,100", help="N for the kubernetes.core loop")
    parser.add_argument("--loop-rerun-max", type=int, default=10,
                        help="re-run the loop only up to this N (a loop re-run costs as much as the first run)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    loop_sizes = {int(s) for s in args.loop_sizes.split(",") if s}

    hub = KubeServer(name="hub", crd_dir=CRD_DIR).start()
    workloads = [KubeServer(name=f"w{i}").start() for i in range(3)]
    try:
        for ns in ("argocd-module", "argocd-loop"):
            hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            kubeconfig = hub.write_kubeconfig(tmp / "hub.kubeconfig")
            print(f"{'approach':<22}{'N':>6}{'wall s':>9}{'tasks s':>9}{'req/cluster':>13}"
                  f"{'rerun tasks s':>15}{'rerun writes':>14}", flush=True)
            rows: dict[tuple[str, int], tuple[float, float]] = {}
            for n in sizes:
                namespace = f"bench-{n}"
                populate(hub, workloads, namespace, n)
                approaches = [("argocd_cluster_secret", MODULE_PLAY, True)]
                if n in loop_sizes:
                    approaches.append(("kubernetes.core loop", LOOP_PLAY, n <= args.loop_rerun_max))
                for label, play, rerun in approaches:
                    wall, tasks, requests = run(hub, kubeconfig, tmp / f"{label[:4]}-{n}-1", play, namespace)[:3]
                    rows[(label, n)] = (wall, tasks)
                    again = "-"
                    rerun_writes: int | str = "-"
                    if rerun:
                        second = run(hub, kubeconfig, tmp / f"{label[:4]}-{n}-2", play, namespace)
                        rerun_tasks, rerun_writes = second[1], second[3]
                        again = f"{rerun_tasks:.2f}"
                    print(f"{label:<22}{n:>6}{wall:>9.2f}{tasks:>9.2f}{requests / n:>13.2f}{again:>15}"
                          f"{rerun_writes:>14}", flush=True)
            for n in sorted(loop_sizes):
                if ("argocd_cluster_secret", n) in rows and ("kubernetes.core loop", n) in rows:
                    (mod_wall, mod_tasks), (loop_wall, loop_tasks) = rows[("argocd_cluster_secret", n)], \
                        rows[("kubernetes.core loop", n)]
                    print(f"N={n}: module {loop_tasks / mod_tasks:.0f}x faster than the loop (tasks), "
                          f"{loop_wall / mod_wall:.0f}x (whole ansible-playbook run)")
    finally:
        for server in (*workloads, hub):
            server.stop()


if __name__ == "__main__":
    main()
