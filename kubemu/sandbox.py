"""The sandbox: an emulated hub API, a simulated CAPI infrastructure controller, and one emulated API
server per workload cluster, all in one background process on this machine.

    python -m kubemu.sandbox up     --state-dir DIR [--crd-dir DIR] [--step-seconds S] [--oke-token-seconds S]
                                    [--rulebook] [--allow-schemaless]
    python -m kubemu.sandbox status --state-dir DIR
    python -m kubemu.sandbox down   --state-dir DIR

``up`` starts the process (or reuses a running one) and prints one JSON line: ``{"state": "started" |
"reused", "hub_kubeconfig": ..., "hub_url": ...}``. ``status`` says ``absent``, ``running`` or ``dead`` (the
pid file is there but the process is gone or its hub does not answer); after a dead hub, ``up`` starts a new, empty
one and says so in ``previous`` and ``msg``: the sandbox keeps its objects in memory only, nothing survives. ``down`` stops it and every server it started, and
leaves no process behind. The hub's kubeconfig is ``DIR/hub.kubeconfig``; the log is ``DIR/sandbox.log``.

``up --rulebook`` also starts ``ansible-rulebook`` with ``extensions/eda/rulebooks/registration.yml`` on the
sandbox inventory, beside the hub (its own process group, log ``DIR/rulebook.log``): a Cluster's Argo CD Secret
appears seconds after the simulated controller makes it ready, and goes when the Cluster is deleted. ``down`` stops
it too. Without ``ansible-rulebook`` or a Java runtime, ``up`` says so in ``rulebook`` and starts the hub alone.

Workload clusters whose Cluster refers to OCIManagedCluster / OCIManagedControlPlane are OKE clusters: their
kubeconfig carries a token the workload API accepts for ``--oke-token-seconds`` only (CAPOCI's OKE tokens expire
within minutes), so Argo CD must register them with a ServiceAccount token of their own (``service_account``).

The hub validates objects against the CRDs ``kubemu.crds.resolve`` finds (``--crd-dir``, ``$MCG_CRD_DIR``, the
cache ``.cache/crds``, the pinned upstream files fetched into it and checked against ``kubemu/crds.lock.json``,
``../shared/crds``), and ``up`` says which in ``crds``. When none is found ``up`` fails, saying how to provide
them, unless ``--allow-schemaless`` (or ``MCG_SANDBOX_SCHEMALESS=1``): the kinds the collection uses are then
registered without schemas (objects are not validated), and ``crds`` and the log say so.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["main", "up", "down", "status", "SCHEMALESS_KINDS"]

log = logging.getLogger("kubemu.sandbox")

# (group, kind, plural, namespaced, served versions, storage version) of the kinds the roles apply,
# for machines without the CRD files.
SCHEMALESS_KINDS: tuple[tuple[str, str, str, bool, tuple[str, ...], str], ...] = (
    ("argoproj.io", "Application", "applications", True, ("v1alpha1",), "v1alpha1"),
    ("argoproj.io", "ApplicationSet", "applicationsets", True, ("v1alpha1",), "v1alpha1"),
    ("argoproj.io", "AppProject", "appprojects", True, ("v1alpha1",), "v1alpha1"),
    ("kyverno.io", "ClusterPolicy", "clusterpolicies", False, ("v1", "v2beta1"), "v1"),
    ("kyverno.io", "Policy", "policies", True, ("v1", "v2beta1"), "v1"),
    ("cert-manager.io", "ClusterIssuer", "clusterissuers", False, ("v1",), "v1"),
    ("cert-manager.io", "Issuer", "issuers", True, ("v1",), "v1"),
    ("cert-manager.io", "Certificate", "certificates", True, ("v1",), "v1"),
    ("cluster.x-k8s.io", "Cluster", "clusters", True, ("v1beta1", "v1beta2"), "v1beta2"),
    ("cluster.x-k8s.io", "MachineDeployment", "machinedeployments", True, ("v1beta1", "v1beta2"), "v1beta2"),
    ("cluster.x-k8s.io", "MachinePool", "machinepools", True, ("v1beta1", "v1beta2"), "v1beta2"),
    ("cluster.x-k8s.io", "MachineHealthCheck", "machinehealthchecks", True, ("v1beta1", "v1beta2"), "v1beta2"),
    ("controlplane.cluster.x-k8s.io", "KubeadmControlPlane", "kubeadmcontrolplanes", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("bootstrap.cluster.x-k8s.io", "KubeadmConfigTemplate", "kubeadmconfigtemplates", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("addons.cluster.x-k8s.io", "ClusterResourceSet", "clusterresourcesets", True, ("v1beta1", "v1beta2"), "v1beta2"),
    ("addons.cluster.x-k8s.io", "HelmChartProxy", "helmchartproxies", True, ("v1alpha1",), "v1alpha1"),
    ("infrastructure.cluster.x-k8s.io", "OCICluster", "ociclusters", True, ("v1beta1", "v1beta2"), "v1beta2"),
    ("infrastructure.cluster.x-k8s.io", "OCIClusterIdentity", "ociclusteridentities", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("infrastructure.cluster.x-k8s.io", "OCIMachineTemplate", "ocimachinetemplates", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("infrastructure.cluster.x-k8s.io", "OCIManagedCluster", "ocimanagedclusters", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("infrastructure.cluster.x-k8s.io", "OCIManagedControlPlane", "ocimanagedcontrolplanes", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("infrastructure.cluster.x-k8s.io", "OCIManagedMachinePool", "ocimanagedmachinepools", True,
     ("v1beta1", "v1beta2"), "v1beta2"),
    ("operator.cluster.x-k8s.io", "CoreProvider", "coreproviders", True, ("v1alpha2",), "v1alpha2"),
    ("operator.cluster.x-k8s.io", "BootstrapProvider", "bootstrapproviders", True, ("v1alpha2",), "v1alpha2"),
    ("operator.cluster.x-k8s.io", "ControlPlaneProvider", "controlplaneproviders", True, ("v1alpha2",), "v1alpha2"),
    ("operator.cluster.x-k8s.io", "InfrastructureProvider", "infrastructureproviders", True,
     ("v1alpha2",), "v1alpha2"),
    ("operator.cluster.x-k8s.io", "AddonProvider", "addonproviders", True, ("v1alpha2",), "v1alpha2"),
)


def schemaless_crd(group: str, kind: str, plural: str, namespaced: bool, versions: tuple[str, ...],
                   storage: str) -> dict[str, Any]:
    """A CRD that accepts any object of the kind (no schema), with a status subresource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced" if namespaced else "Cluster",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [{"name": v, "served": True, "storage": v == storage, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}
                         for v in versions],
        },
    }


# --- the process itself ------------------------------------------------------------------------------
def serve(state_dir: Path, crd_dir: Path | None, step_seconds: float, oke_token_seconds: float | None = None) -> int:
    from kubemu import KubeServer
    from kubemu.capi_sim import CapiSimulator

    have_crds = crd_dir is not None and crd_dir.is_dir() and any(crd_dir.glob("*.yaml"))
    hub = KubeServer(name="hub", crd_dir=crd_dir if have_crds else None, tls=True, port=0)
    hub.start()
    if not have_crds:
        log.warning("NO CRD SCHEMAS (folder %s): registering the collection's kinds without schemas; objects are "
                    "NOT validated", crd_dir)
        for kind in SCHEMALESS_KINDS:
            hub.create(schemaless_crd(*kind))

    def workload_server(name: str) -> Any:
        server = KubeServer(name=name, crd_dir=None, tls=True, port=0)
        server.start()
        return server

    from kubemu.capi_sim import OKE_TOKEN_SECONDS

    sim = CapiSimulator(hub, workload_server, step_seconds=step_seconds,
                        oke_token_seconds=oke_token_seconds or OKE_TOKEN_SECONDS).start()
    hub.write_kubeconfig(state_dir / "hub.kubeconfig")
    (state_dir / "sandbox.json").write_text(json.dumps({"pid": os.getpid(), "hub_url": hub.url}))
    log.info("sandbox up: hub at %s", hub.url)

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    log.info("sandbox stopping")
    sim.stop()
    hub.stop()
    (state_dir / "sandbox.json").unlink(missing_ok=True)
    return 0


# --- the commands ------------------------------------------------------------------------------------
def _running(state_dir: Path, name: str = "sandbox.json") -> dict[str, Any] | None:
    try:
        info = json.loads((state_dir / name).read_text())
        os.kill(info["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    return info


def _recorded(state_dir: Path) -> dict[str, Any] | None:
    """The pid file's content (pid and hub URL), whether or not that process still runs."""
    try:
        info = json.loads((state_dir / "sandbox.json").read_text())
        return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _answers(url: str, timeout: float = 3.0) -> bool:
    """Whether the hub at ``url`` answers an HTTP request (any status; a hung process accepts but never answers)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{url}/version", timeout=timeout, context=context):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _is_sandbox(pid: int) -> bool:
    """Whether process ``pid`` is a sandbox server (not another program that got the pid since)."""
    try:
        return b"kubemu.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def status(state_dir: Path) -> dict[str, Any]:
    """``absent`` (never started, or stopped), ``running``, or ``dead``: the pid file is there but the process is
    gone (killed, crashed, the machine restarted) or its hub does not answer. A dead hub's objects are lost: the
    sandbox keeps them in memory only."""
    info = _recorded(state_dir)
    if info is None:
        return {"state": "absent"}
    hub_url = str(info.get("hub_url", ""))
    alive = _running(state_dir) is not None and _is_sandbox(info["pid"])
    if not alive or not _answers(hub_url):
        reason = (f"its process {info['pid']} is gone" if not alive else
                  f"its process {info['pid']} runs but {hub_url} does not answer")
        return {"state": "dead", "pid": info["pid"], "hub_url": hub_url, "reason": reason,
                "log": str(state_dir / "sandbox.log"),
                "msg": f"The sandbox hub at {hub_url} is dead: {reason} (see {state_dir / 'sandbox.log'}). "
                       "Its objects are lost (the sandbox keeps them in memory only). "
                       "The next site.yml run (or python -m kubemu.sandbox up) starts a new, empty hub and "
                       "applies the platform again."}
    out = {"state": "running", "pid": info["pid"], "hub_url": hub_url,
           "hub_kubeconfig": str(state_dir / "hub.kubeconfig")}
    rulebook = _running(state_dir, "rulebook.json")
    if rulebook is not None:
        out["rulebook"] = {"state": "running", "pid": rulebook["pid"], "log": str(state_dir / "rulebook.log")}
    return out


_ROOT = Path(__file__).resolve().parents[1]
RULEBOOK = _ROOT / "extensions" / "eda" / "rulebooks" / "registration.yml"


def start_rulebook(state_dir: Path, *, inventory: Path | None = None) -> dict[str, Any]:
    """Start (or reuse) ansible-rulebook on the registration rulebook against the sandbox hub."""
    running = _running(state_dir, "rulebook.json")
    if running is not None:
        return {"state": "reused", "pid": running["pid"], "log": str(state_dir / "rulebook.log")}
    bindir = Path(sys.executable).parent
    binary = bindir / "ansible-rulebook"
    if not binary.exists():
        return {"state": "unavailable", "msg": "ansible-rulebook is not installed in this virtualenv: run "
                                               "scripts/setup.sh (it installs it from PyPI)"}
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return {"state": "unavailable", "msg": "no Java runtime: ansible-rulebook needs Java 17 "
                                               "(apt-get install openjdk-17-jre-headless)"}
    cmd = [str(binary), "--rulebook", str(RULEBOOK), "-i", str(inventory or _ROOT / "inventories" / "sandbox"), "-v"]
    env = {**os.environ, "K8S_AUTH_KUBECONFIG": str(state_dir / "hub.kubeconfig"),
           "ANSIBLE_CONFIG": str(_ROOT / "ansible.cfg"),
           "PATH": os.pathsep.join([str(bindir), os.environ.get("PATH", "")])}
    with open(state_dir / "rulebook.log", "ab") as logfile:
        proc = subprocess.Popen(cmd, cwd=_ROOT, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, env=env,
                                start_new_session=True)
    (state_dir / "rulebook.json").write_text(json.dumps({"pid": proc.pid}))
    return {"state": "started", "pid": proc.pid, "log": str(state_dir / "rulebook.log")}


def stop_rulebook(state_dir: Path, *, timeout: float = 20) -> None:
    info = _running(state_dir, "rulebook.json")
    if info is not None:
        _stop_group(info["pid"], timeout)
    (state_dir / "rulebook.json").unlink(missing_ok=True)


def _stop_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group ``pid`` leads (ansible-rulebook and the playbooks it runs), SIGKILL if it stays."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _crds(state_dir: Path, crd_dir: Path | None, allow_schemaless: bool | None) -> dict[str, Any]:
    """Resolve the CRD source (kubemu.crds) and remember it for ``up`` calls that reuse the process."""
    from kubemu.crds import CrdError, resolve

    try:
        source = resolve(explicit=crd_dir, allow_schemaless=allow_schemaless or None)
    except CrdError as e:
        raise RuntimeError(str(e)) from e
    info = {**source.as_dict(), "describe": source.describe()}
    (state_dir / "crds.json").write_text(json.dumps(info))
    return info


def up(state_dir: Path, crd_dir: Path | None, step_seconds: float, *, timeout: float = 60,
       oke_token_seconds: float | None = None, allow_schemaless: bool | None = None) -> dict[str, Any]:
    state_dir.mkdir(parents=True, exist_ok=True)
    current = status(state_dir)
    if current["state"] == "running":
        try:
            crds = json.loads((state_dir / "crds.json").read_text())
        except (OSError, ValueError):
            crds = {"source": "unknown", "describe": "unknown (started by an older version; restart it to know)"}
        return {**current, "state": "reused", "crds": crds}
    previous = None
    if current["state"] == "dead":
        previous = {k: current[k] for k in ("state", "pid", "hub_url", "reason")}
        if _is_sandbox(current["pid"]):  # hung: stop it before starting anew
            _stop_group(current["pid"], 5)
        stop_rulebook(state_dir)
    (state_dir / "sandbox.json").unlink(missing_ok=True)
    crds = _crds(state_dir, crd_dir, allow_schemaless)
    cmd = [sys.executable, "-m", "kubemu.sandbox", "serve", "--state-dir", str(state_dir),
           "--step-seconds", str(step_seconds)]
    if crds["directory"] is not None:
        cmd += ["--crd-dir", crds["directory"]]
    if oke_token_seconds:
        cmd += ["--oke-token-seconds", str(oke_token_seconds)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")])}
    with open(state_dir / "sandbox.log", "ab") as logfile:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {proc.returncode}; see {state_dir / 'sandbox.log'}")
        current = status(state_dir)
        if current["state"] == "running":
            if previous is None:
                return {**current, "state": "started", "crds": crds}
            return {**current, "state": "started", "crds": crds, "previous": previous,
                    "msg": f"The previous sandbox hub ({previous['hub_url']}) died: {previous['reason']}. "
                           f"A new, empty hub was started at {current['hub_url']}: the objects of the previous one "
                           "(clusters, Argo CD Secrets, everything the last run applied) are lost, because the "
                           "sandbox keeps them in memory only; this run applies the platform again."}
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"the sandbox did not start within {timeout:.0f}s; see {state_dir / 'sandbox.log'}")


def down(state_dir: Path, *, timeout: float = 30) -> dict[str, Any]:
    stop_rulebook(state_dir)
    info = _running(state_dir)
    if info is None:
        dead = _recorded(state_dir)
        for name in ("sandbox.json", "hub.kubeconfig"):
            (state_dir / name).unlink(missing_ok=True)
        return {"state": "absent"} if dead is None else {"state": "absent", "was": "dead", "pid": dead["pid"]}
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(info["pid"], 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        os.kill(info["pid"], signal.SIGKILL)
    for name in ("sandbox.json", "hub.kubeconfig"):
        (state_dir / name).unlink(missing_ok=True)
    return {"state": "stopped", "pid": info["pid"]}


def _up_with_rulebook(state_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    result = up(state_dir, args.crd_dir, args.step_seconds, oke_token_seconds=args.oke_token_seconds,
                allow_schemaless=args.allow_schemaless)
    if args.rulebook:
        result["rulebook"] = start_rulebook(state_dir)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubemu.sandbox", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--crd-dir", type=Path)
    parser.add_argument("--step-seconds", type=float, default=1.0)
    parser.add_argument("--oke-token-seconds", type=float, default=None,
                        help="how long an OKE cluster's kubeconfig token is accepted (default: 240)")
    parser.add_argument("--allow-schemaless", action="store_true",
                        help="run without schema validation when no CRD source is found (up only; loudly)")
    parser.add_argument("--rulebook", action="store_true",
                        help="also run ansible-rulebook with extensions/eda/rulebooks/registration.yml (up only)")
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    if args.command == "serve":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        return serve(state_dir, args.crd_dir, args.step_seconds, args.oke_token_seconds)
    try:
        result = {"up": lambda: _up_with_rulebook(state_dir, args),
                  "down": lambda: down(state_dir), "status": lambda: status(state_dir)}[args.command]()
    except RuntimeError as e:
        print(json.dumps({"state": "failed", "msg": str(e)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
