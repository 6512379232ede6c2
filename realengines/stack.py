"""The whole real set on 127.0.0.1, detached: what ``python -m realengines up --all`` starts.

One named run (default ``engines``) under ``.cache/engines/run/<name>/``:

* ``kube``: etcd + kube-apiserver + kube-controller-manager (``realengines.kube``);
* ``capi``: the Cluster API core, kubeadm bootstrap, kubeadm control plane managers and CAPD with its
  in-memory backend (``realengines.capi``; state under ``<name>/capi``);
* ``kyverno``: Kyverno's admission and background controllers (``realengines.kyverno``);
* ``argocd``: Argo CD's ApplicationSet controller (``realengines.appset``);
* the CRDs of the kinds the roles apply whose engine is not part of the set (cert-manager's
  ClusterIssuer: ``MCG_CRD_DIR`` or ``../shared/crds``), so those objects are stored and served as a
  hub with cert-manager installed would store them (nothing acts on them).

Each component that is not built is skipped (with the reason) unless it is in ``required``. Once
everything is up, ``<name>/engines.json`` records every process (pid and binary, so ``down`` stops
only what this run started) and ``<name>/env.yml`` is written for an inventory to read::

    mcg_hub_kubeconfig: <run>/admin.kubeconfig
    mcg_engines:
      run: engines
      real: {kube-apiserver: v1.34.4, cluster-api: v1.12.5, kyverno: v1.17.2, argocd-applicationset-controller: v3.2.3}
      not_real: {cert-manager: "CRDs only (no controller)", helm: "..."}
      logs: <run>/...

``down(name)`` stops every recorded process (the ApplicationSet controller, Kyverno, the CAPI managers,
then the control plane) and removes the records; ``status(name)`` says what runs.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from . import build
from .kube import RUN, EngineError, KubeAPIServer, _kill_group, _ours, stop_detached

DEFAULT_NAME = "engines"
COMPONENTS = ("kube", "capi", "kyverno", "argocd")
# What each component runs, and the name and version the summary reports (the versions the Go modules pin).
REPORTED = {
    "kube": "kube-apiserver",
    "capi": "cluster-api",
    "kyverno": "kyverno",
    "argocd": "argocd-applicationset-controller",
}
EXTRA_CRDS = ("cert-manager.io_clusterissuers.yaml", "cert-manager.io_certificates.yaml", "cert-manager.io_issuers.yaml")
NOT_REAL = {
    "cert-manager": "CRDs only: ClusterIssuers and Certificates are stored, no controller issues certificates",
    "helm": "no chart repository is reachable: Helm releases are skipped (mcg_helm_enabled: false); "
            "the engines are started by `python -m realengines up --all` instead",
    "oci": "no cloud: the workload clusters are Cluster API in-memory clusters (DevCluster, CAPD)",
}


def state_dir(name: str = DEFAULT_NAME) -> Path:
    return RUN / name


def env_path(name: str = DEFAULT_NAME) -> Path:
    return state_dir(name) / "env.yml"


def _record_path(name: str) -> Path:
    return state_dir(name) / "engines.json"


def module_version(component: str) -> str:
    """The version the component's go.mod pins for its main upstream module."""
    module = {"kube": "k8s.io/kubernetes", "capi": "sigs.k8s.io/cluster-api",
              "kyverno": "github.com/kyverno/kyverno", "argocd": "github.com/argoproj/argo-cd/v3"}[component]
    text = (build.ENGINES / component / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    return match.group(1) if match else "unknown"


def shared_crd_dir() -> Path:
    configured = os.environ.get("MCG_CRD_DIR")
    return Path(configured) if configured else build.ROOT.parent / "shared" / "crds"


def up(name: str = DEFAULT_NAME, components: tuple[str, ...] = COMPONENTS,
       required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Start the set (stopping a previous run of the same name first); return the env written to env.yml.

    A component that is not built is left out (``skipped`` in the env) unless it is in ``required``,
    then EngineError. Anything already started is stopped when a later component fails to start.
    """
    from .appset import ApplicationSetController
    from .capi import CapiError, CapiManagers
    from .crds import install_crds
    from .kyverno import Kyverno

    down(name)
    skipped: dict[str, str] = {}
    for component in components:
        reason = build.missing(component)
        if reason:
            if component in required or component == "kube":
                raise EngineError(reason)
            skipped[component] = reason
    server = KubeAPIServer(name, controller_manager=True)
    started: list[Any] = []
    try:
        server.start(detach=True)
        started.append(server)
        processes: dict[str, dict[str, Any]] = {}
        extra = [shared_crd_dir() / f for f in EXTRA_CRDS if (shared_crd_dir() / f).exists()]
        if extra:
            install_crds(server, extra)
        if "capi" in components and "capi" not in skipped:
            try:
                capi = CapiManagers(server, name=f"{name}/capi").start()
            except CapiError as err:
                raise EngineError(str(err)) from err
            started.append(capi)
            processes["capi"] = {b: {"pid": r.process.pid, "binary": str(build.binary(b))}
                                 for b, r in capi.running.items() if r.process is not None}
        if "kyverno" in components and "kyverno" not in skipped:
            kyverno = Kyverno(server).start()
            started.append(kyverno)
            processes["kyverno"] = {b: {"pid": p.pid, "binary": str(build.binary(b))}
                                    for b, p in kyverno.processes.items()}
        if "argocd" in components and "argocd" not in skipped:
            appset = ApplicationSetController(server).start()
            started.append(appset)
            assert appset.process is not None
            processes["argocd"] = {"argocd-applicationset-controller": {
                "pid": appset.process.pid, "binary": str(build.binary("argocd-applicationset-controller"))}}
    except BaseException:
        for engine in reversed(started):
            engine.stop()
        raise
    _record_path(name).write_text(json.dumps({"name": name, "processes": processes}, indent=2))
    real = {REPORTED[c]: module_version(c) for c in components if c not in skipped}
    env = {
        "mcg_hub_kubeconfig": str(server.kubeconfig_path),
        "mcg_engines": {
            "run": name,
            "hub_url": server.url,
            "real": real,
            "not_real": {**NOT_REAL, **{REPORTED[c]: f"not built: {why}" for c, why in skipped.items()}},
            "logs": str(state_dir(name)),
        },
    }
    path = env_path(name)
    path.write_text("# Written by `python -m realengines up --all`; read by inventories/engines.\n"
                    + yaml.safe_dump(env, sort_keys=False))
    path.chmod(0o600)
    return env


def down(name: str = DEFAULT_NAME) -> list[str]:
    """Stop every process of the run (controllers first, then the control plane); return what was done."""
    done = []
    record_path = _record_path(name)
    if record_path.exists():
        record = json.loads(record_path.read_text())
        for component in ("argocd", "kyverno", "capi"):
            for binary_name, proc in record["processes"].get(component, {}).items():
                if _ours(proc["pid"], proc["binary"]):
                    _kill_group(proc["pid"])
                    done.append(f"stopped {binary_name}")
        record_path.unlink()
    if (state_dir(name) / "pids.json").exists():
        done.append(stop_detached(name))
    env_path(name).unlink(missing_ok=True)
    return done or ["not running"]


def status(name: str = DEFAULT_NAME) -> tuple[bool, list[str]]:
    """(every recorded process alive and the hub ready, one line per component)."""
    from .kube import status as kube_status

    lines = [f"kube: {kube_status(name)}"]
    ok = lines[0].startswith("kube: running")
    record_path = _record_path(name)
    if not record_path.exists():
        return False, lines + ["controllers: not running (no engines.json)"]
    record = json.loads(record_path.read_text())
    for component, procs in record["processes"].items():
        dead = [b for b, p in procs.items() if not _ours(p["pid"], p["binary"])]
        ok = ok and not dead
        state = f"broken: {', '.join(dead)} not running" if dead else f"running ({', '.join(sorted(procs))})"
        lines.append(f"{component}: {state}")
    return ok, lines
