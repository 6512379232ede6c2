"""site.yml on the sandbox inventory against an emulated hub behind the fault proxy.

The hub is started as ``python -m kubemu.sandbox serve`` starts it (kubemu/sandbox.py): a KubeServer with the
collection's CRDs (or the schemaless kinds), the simulated Cluster API controller, one emulated API server per
workload cluster. Two differences: the hub runs in this process and speaks plain HTTP on 127.0.0.1, so that the
fault proxy (tests/helpers/faults.py) can sit in front of it; the workload servers are reached directly (TLS), as
Argo CD would. The playbook gets a kubeconfig naming the proxy (``mcg_hub_kubeconfig``) and
``mcg_sandbox_enabled: false`` (the hub is already up). Used by tests/integration/test_faults_site.py and
benchmarks/faults.py.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.ansible import ROOT, Result, run_playbook
from tests.helpers.faults import FaultProxy, Plan

INVENTORY = ROOT / "inventories" / "sandbox"
CLUSTER_SECRET = "argocd.argoproj.io/secret-type=cluster"
_RETRYING = re.compile(r"^FAILED - RETRYING: \[[^\]]+\]: (?P<task>.*) \((?P<left>\d+) retries left\)", re.M)


def inventory_clusters() -> list[dict[str, Any]]:
    """capi_workloads_clusters of the sandbox inventory."""
    data = yaml.safe_load((INVENTORY / "group_vars" / "all" / "main.yml").read_text())
    return list(data["capi_workloads_clusters"])


def retried_tasks(stdout: str) -> list[str]:
    """One entry per retry Ansible announced (``FAILED - RETRYING: [host]: task (N retries left)``)."""
    return [m["task"] for m in _RETRYING.finditer(stdout)]


@dataclass
class FaultySite:
    """Start with ``FaultySite(tmp, plan).start()``; ``run()`` runs site.yml once; ``stop()`` ends everything."""

    tmp: Path
    plan: Plan
    crd_dir: Path | None = None
    step_seconds: float = 1.0
    hub: Any = None
    sim: Any = None
    proxy: FaultProxy | None = None
    runs: list[Result] = field(default_factory=list)

    def start(self) -> "FaultySite":
        from kubemu import KubeServer
        from kubemu.capi_sim import CapiSimulator
        from kubemu.sandbox import SCHEMALESS_KINDS, schemaless_crd

        have_crds = self.crd_dir is not None and self.crd_dir.is_dir() and any(self.crd_dir.glob("*.yaml"))
        self.hub = KubeServer(name="hub", crd_dir=self.crd_dir if have_crds else None, tls=False).start()
        if not have_crds:
            for kind in SCHEMALESS_KINDS:
                self.hub.create(schemaless_crd(*kind))
        self.sim = CapiSimulator(self.hub, lambda name: KubeServer(name=name, tls=True).start(),
                                 step_seconds=self.step_seconds).start()
        self.proxy = FaultProxy(self.hub.url, self.plan).start()
        kubeconfig = self.hub.kubeconfig_dict()
        kubeconfig["clusters"][0]["cluster"]["server"] = self.proxy.url
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = self.tmp / "hub.kubeconfig"
        self.kubeconfig.write_text(json.dumps(kubeconfig))
        self.kubeconfig.chmod(0o600)
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.sim is not None:
            self.sim.stop()
        if self.hub is not None:
            self.hub.stop()

    def __enter__(self) -> "FaultySite":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def run(self, *, verbosity: int = 0, timeout: int = 1200, extra_vars: dict[str, Any] | None = None) -> Result:
        """One ``ansible-playbook site.yml -i inventories/sandbox`` through the proxy."""
        n = len(self.runs) + 1
        result = run_playbook(self.tmp / f"run-{n}", "site.yml", inventory=INVENTORY, verbosity=verbosity,
                              timeout=timeout, extra_vars={
                                  "mcg_sandbox_enabled": False, "mcg_hub_kubeconfig": str(self.kubeconfig),
                                  "mcg_summary_dir": str(self.tmp / f"run-{n}" / "summary"), **(extra_vars or {})})
        self.runs.append(result)
        return result

    # --- what the hub holds (read directly, not through the proxy) ----------------------------------------------
    def argocd_cluster_secrets(self, namespace: str = "argocd") -> list[dict[str, Any]]:
        return self.hub.list("v1", "Secret", namespace, label_selector=CLUSTER_SECRET)

    def capi_clusters(self) -> list[dict[str, Any]]:
        return self.hub.list("cluster.x-k8s.io/v1beta2", "Cluster")

    def credentials(self) -> list[str]:
        """Every credential the run could leak: the hub's and each workload server's admin token, the keys and
        tokens of the CAPI kubeconfigs and of the Argo CD Secrets, and the Argo CD admin password."""
        values = [self.hub.admin_token]
        values += [server.admin_token for server in self.sim.workload_servers().values()]
        for secret in self.hub.list("v1", "Secret"):
            for value in (secret.get("data") or {}).values():
                text = base64.b64decode(value).decode(errors="replace")
                values += [line for line in text.splitlines() if len(line) > 40 and "-----" not in line]
                for token in re.findall(r'"(?:bearerToken|keyData|certData|token)"\s*:\s*"([^"]{20,})"', text):
                    values.append(token)
                for token in re.findall(r"(?:token|client-key-data): (\S{20,})", text):
                    values.append(token)
        group_vars = yaml.safe_load((INVENTORY / "group_vars" / "all" / "main.yml").read_text())
        values.append(group_vars["argocd_admin_password"])
        return sorted({v for v in values if v})
