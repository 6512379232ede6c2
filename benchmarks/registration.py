#!/usr/bin/env python
"""Registration of N CAPI clusters in Argo CD: argocd_cluster_secret against two kubernetes.core baselines.

Approaches, each writing to its own Argo CD namespace on one hub: kubemu, the emulated API server served from this
process (default), or with ``--api-server kube-apiserver`` a real kube-apiserver with etcd built from
``engines/kube`` (``bash scripts/engines.sh build kube``; ``both`` runs one after the other):

* ``argocd_cluster_secret``: one task, the collection's module;
* ``kubernetes.core batched``: list the Clusters and the kubeconfig Secrets once, then one ``k8s`` task with the
  list of every Argo CD Secret definition (built in Jinja);
* ``kubernetes.core loop``: the naive playbook, one ``k8s_info`` and one ``k8s`` task run per cluster.

Every cluster has its own kubeconfig with its own server URL and its own client key (random bytes of an RSA-2048
key's size in PEM armour: credential mode ``kubeconfig`` copies the key, nothing uses it). Each configuration runs
``--repeat`` times (a first run on an empty Argo CD namespace, then an immediate re-run with nothing to change) and
the script prints min / median / max of:

* ``wall``: the whole ``ansible-playbook`` process (start-up, inventory, forks, the module, exit);
* ``tasks``: the registering tasks alone, measured inside the playbook between two ``now()`` stamps;
* requests per cluster and writes, counted by the API server (kubemu's counters; on kube-apiserver its audit log,
  which logs the playbook's user alone, see benchmarks/realhub.py);
* ``rss``: the peak resident memory of the registration module's process (argocd_cluster_secret only);
* the 1-minute load average when the run started (the machine is shared: read the figures with it).

    . .venv/bin/activate && python benchmarks/registration.py [--sizes 10,100,1000,10000] \\
        [--batched-sizes 10,100,1000] [--loop-sizes 10] [--repeat 3] [--api-server kubemu|kube-apiserver|both]
"""
from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".cache" / "collections")]

from benchmarks import realhub  # noqa: E402
from benchmarks.realhub import RealHub  # noqa: E402
from kubemu import KubeServer  # noqa: E402
from tests.helpers.ansible import run_playbook  # noqa: E402

CRD_DIR = Path(os.environ.get("MCG_CRD_DIR", ROOT.parent / "shared" / "crds"))
NAMESPACES = {"argocd_cluster_secret": "argocd-module", "kubernetes.core batched": "argocd-batched",
              "kubernetes.core loop": "argocd-loop"}

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
      vars:
        ansible_python_interpreter: "{{ bench_rss_python }}"
""" + CLOCK_STOP

_SECRET_JINJA = (
    "{'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque', "
    "'metadata': {'name': 'cluster-' ~ c.metadata.namespace ~ '.' ~ c.metadata.name, 'namespace': NS, "
    "'labels': {'argocd.argoproj.io/secret-type': 'cluster'}}, "
    "'data': {'name': (c.metadata.namespace ~ '/' ~ c.metadata.name) | b64encode, "
    "'server': kc.clusters[0].cluster.server | b64encode, "
    "'config': {'tlsClientConfig': {'caData': kc.clusters[0].cluster['certificate-authority-data'], "
    "'certData': kc.users[0].user['client-certificate-data'], 'insecure': false, "
    "'keyData': kc.users[0].user['client-key-data']}} | to_json | b64encode}}"
)

# The two kubernetes.core baselines start alike: one play on the hub, the clock, one LIST of the Clusters.
BASELINE_HEAD = """
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
      register: clusters"""

BATCHED_PLAY = BASELINE_HEAD + """
    - name: List the kubeconfig Secrets once
      kubernetes.core.k8s_info:
        kind: Secret
        namespace: "{{ bench_namespace }}"
        label_selectors: [cluster.x-k8s.io/cluster-name]
      register: kubeconfigs
      no_log: true
    - name: Write every Argo CD cluster Secret in one task
      kubernetes.core.k8s:
        state: present
        definition: "{{ definitions }}"
      vars:
        definitions: >-
          {% set values = {} %}{% for s in kubeconfigs.resources %}{%
            set _ = values.update({s.metadata.name: s.data.value}) %}{% endfor %}{%
          set out = [] %}{% for c in clusters.resources %}{%
            set kc = values[c.metadata.name ~ '-kubeconfig'] | b64decode | from_yaml %}{%
            set _ = out.append(""" + _SECRET_JINJA.replace("NS", "'argocd-batched'") + """) %}{%
          endfor %}{{ out }}
      no_log: true
""" + CLOCK_STOP

LOOP_PLAY = BASELINE_HEAD + """
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
        definition: "{{ """ + _SECRET_JINJA.replace("NS", "'argocd-loop'") + """ }}"
      vars:
        c: "{{ item.item }}"
        kc: "{{ item.resources[0].data.value | b64decode | from_yaml }}"
      loop: "{{ kubeconfigs.results }}"
      loop_control:
        label: "{{ item.item.metadata.name }}"
      no_log: true
""" + CLOCK_STOP

PLAYS = {"argocd_cluster_secret": MODULE_PLAY, "kubernetes.core batched": BATCHED_PLAY,
         "kubernetes.core loop": LOOP_PLAY}

RSS_WRAPPER = """#!{python} -S
# Runs the module with the real interpreter and appends the child's peak RSS (KiB) to a file.
import os
import sys
pid = os.posix_spawn({python!r}, [{python!r}] + sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open({out!r}, "a") as fh:
    fh.write(f"{{usage.ru_maxrss}}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _pem_key(i: int) -> str:
    body = base64.b64encode(os.urandom(1190)).decode()
    lines = "\n".join(body[j:j + 64] for j in range(0, len(body), 64))
    return base64.b64encode(f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----\n".encode()
                            ).decode()


def kubeconfig(name: str, i: int, ca: str, cert: str) -> str:
    """What CAPI writes (client-go clientcmd layout), with this cluster's own server and client key."""
    server = f"https://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:6443"
    return (f"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n"
            f"  name: {name}\ncontexts:\n- context:\n    cluster: {name}\n    user: {name}-admin\n"
            f"  name: {name}-admin@{name}\ncurrent-context: {name}-admin@{name}\nkind: Config\npreferences: {{}}\n"
            f"users:\n- name: {name}-admin\n  user:\n    client-certificate-data: {cert}\n"
            f"    client-key-data: {_pem_key(i)}\n")


def populate(hub: KubeServer | RealHub, namespace: str, n: int) -> None:
    hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    sample = hub.kubeconfig_dict(client_cert=True)
    ca = sample["clusters"][0]["cluster"]["certificate-authority-data"]
    cert = sample["users"][0]["user"]["client-certificate-data"]
    for i in range(n):
        name = f"c{i:05d}"
        hub.create({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                    "metadata": {"name": name, "namespace": namespace, "labels": {"env": "bench"}},
                    "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                                   "kind": "OCICluster", "name": name}},
                    "status": {"initialization": {"controlPlaneInitialized": True}}})
        value = base64.b64encode(kubeconfig(name, i, ca, cert).encode()).decode()
        hub.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                    "metadata": {"name": f"{name}-kubeconfig", "namespace": namespace,
                                 "labels": {"cluster.x-k8s.io/cluster-name": name}},
                    "data": {"value": value}})


def clear(hub: KubeServer | RealHub, namespace: str) -> None:
    if isinstance(hub, RealHub):
        hub.delete_collection("v1", "Secret", namespace)
        return
    for secret in hub.list("v1", "Secret", namespace):
        hub.delete("v1", "Secret", secret["metadata"]["name"], namespace)


@dataclass
class Sample:
    wall: float
    tasks: float
    requests: int
    writes: int
    rss_mib: float | None
    load: float


@dataclass
class Series:
    first: list[Sample] = field(default_factory=list)
    rerun: list[Sample] = field(default_factory=list)


def run(hub: KubeServer | RealHub, kubeconfig_path: Path, tmp: Path, play: str, namespace: str, rss_python: Path,
        rss_file: Path) -> Sample:
    hub.reset_counters()
    rss_file.write_text("")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = run_playbook(tmp, play, kubeconfig=kubeconfig_path, timeout=3600,
                          extra_vars={"bench_namespace": namespace, "bench_rss_python": str(rss_python)})
    seconds = time.perf_counter() - start
    if result.rc != 0:
        raise SystemExit(f"playbook failed:\n{result.stdout[-3000:]}")
    requests = sum(hub.requests.values())
    writes = sum(v for (method, plural), v in hub.requests.items() if method != "GET")
    tasks = float(re.search(r"BENCH_SECONDS=([0-9.]+)", result.stdout).group(1))
    rss = [int(x) for x in rss_file.read_text().split()]
    return Sample(seconds, tasks, requests, writes, max(rss) / 1024 if rss else None, load)


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {os.cpu_count()} cores{mem}, Linux {platform.release()}, Python {platform.python_version()}"


def start_hub(server: str, repeat: int) -> KubeServer | RealHub:
    """Start the hub and print its "API server:" line."""
    runs = f"{repeat} first runs + {repeat} re-runs per row; figures min/median/max"
    if server == "kubemu":
        print("API server: kubemu (emulated, in the benchmark's process, TLS); every cluster its own kubeconfig, "
              f"server and key; {runs}", flush=True)
        return KubeServer(name="hub", crd_dir=CRD_DIR).start()
    hub = RealHub("registration").start()
    print(f"API server: {hub.describe()}; every cluster its own kubeconfig, server and key; {runs}; requests and "
          f"writes: {realhub.COUNTING}", flush=True)
    return hub


def bench(server: str, sizes: dict[str, list[int]], repeat: int, column: bool) -> None:
    """Every configuration of ``sizes`` against one server; ``column`` puts the server's name first on each row."""
    all_sizes = sorted({n for ns in sizes.values() for n in ns})
    hub = start_hub(server, repeat)
    lead = f"{server:<16}" if column else ""
    series: dict[tuple[str, int], Series] = {}
    try:
        for ns in NAMESPACES.values():
            hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            kubeconfig_path = hub.write_kubeconfig(tmp / "hub.kubeconfig")
            rss_file = tmp / "rss.txt"
            rss_python = tmp / "rss-python"
            rss_python.write_text(RSS_WRAPPER.format(python=sys.executable, out=str(rss_file)))
            rss_python.chmod(0o755)
            print(f"\n{'server':<16}" if column else "\n", end="")
            print(f"{'approach':<24}{'N':>6} {'run':<7}{'wall s':>18}{'tasks s':>18}{'req/cluster':>12}"
                  f"{'writes':>18}{'rss MiB':>13}{'load1':>7}", flush=True)
            for n in all_sizes:
                namespace = f"bench-{n}"
                populate(hub, namespace, n)
                for label, play in PLAYS.items():
                    if n not in sizes[label]:
                        continue
                    s = series[(label, n)] = Series()
                    for attempt in range(repeat):
                        clear(hub, NAMESPACES[label])
                        s.first.append(run(hub, kubeconfig_path, tmp / f"{label[:6]}-{n}-{attempt}-1", play,
                                           namespace, rss_python, rss_file))
                        s.rerun.append(run(hub, kubeconfig_path, tmp / f"{label[:6]}-{n}-{attempt}-2", play,
                                           namespace, rss_python, rss_file))
                    for kind, samples in (("first", s.first), ("re-run", s.rerun)):
                        rss = [x.rss_mib for x in samples if x.rss_mib is not None]
                        print(f"{lead}{label:<24}{n:>6} {kind:<7}{spread([x.wall for x in samples]):>18}"
                              f"{spread([x.tasks for x in samples]):>18}"
                              f"{statistics.median(x.requests for x in samples) / n:>12.2f}"
                              f" {spread([x.writes for x in samples], '{:.0f}'):>17}"
                              f"{spread(rss, '{:.0f}'):>13}{statistics.median(x.load for x in samples):>7.2f}",
                              flush=True)
                clear(hub, NAMESPACES["argocd_cluster_secret"])
            print(f"\nratios of medians (how many times slower than argocd_cluster_secret), first run"
                  f"{f' on {server}' if column else ''}:")
            for n in all_sizes:
                mod = series.get(("argocd_cluster_secret", n))
                for label in ("kubernetes.core batched", "kubernetes.core loop"):
                    other = series.get((label, n))
                    if mod and other:
                        tasks = statistics.median(x.tasks for x in other.first) / statistics.median(
                            x.tasks for x in mod.first)
                        wall = statistics.median(x.wall for x in other.first) / statistics.median(
                            x.wall for x in mod.first)
                        print(f"  N={n}: {label}: {tasks:.1f}x (tasks), {wall:.1f}x (whole ansible-playbook run)")
    finally:
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000", help="N for argocd_cluster_secret")
    parser.add_argument("--batched-sizes", default="10,100,1000", help="N for the batched kubernetes.core playbook")
    parser.add_argument("--loop-sizes", default="10", help="N for the per-cluster kubernetes.core loop")
    parser.add_argument("--repeat", type=int, default=3, help="first runs and re-runs per configuration")
    realhub.add_option(parser)
    args = parser.parse_args()
    servers = realhub.selected(args.api_server)
    sizes = {"argocd_cluster_secret": [int(s) for s in args.sizes.split(",") if s],
             "kubernetes.core batched": [int(s) for s in args.batched_sizes.split(",") if s],
             "kubernetes.core loop": [int(s) for s in args.loop_sizes.split(",") if s]}

    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for i, server in enumerate(servers):
        if i:
            print()
        bench(server, sizes, args.repeat, column=servers != ["kubemu"])
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
