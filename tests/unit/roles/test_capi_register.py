"""roles/capi_workloads/tasks/register.yml: which clusters the argocd_cluster_secret module registers.

Where the Kyverno policy registers the kubeadm clusters, the module must leave them alone: Kyverno relabels every
Secret it generates (kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go), and two writers of one Secret
fight. The task's Jinja is rendered with Ansible's Templar, as the play would.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "capi_workloads"
PRESENT = [
    {"name": "test-1", "namespace": "workload-clusters", "kind": "self-managed", "labels": {"env": "test"}},
    {"name": "sa-1", "namespace": "workload-clusters", "kind": "self-managed",
     "labels": {"env": "test", "multicluster.gitops/credential-mode": "service_account"}},
    {"name": "prod-1", "namespace": "team-b", "kind": "oke", "labels": {"env": "prod"}},
    {"name": "bare-1", "namespace": "workload-clusters", "kind": "self-managed"},
]


def render_task(**variables: Any) -> dict[str, Any]:
    """The register task's module arguments and conditions, templated; omitted arguments are dropped."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    (task,) = yaml.safe_load((ROLE / "tasks" / "register.yml").read_text())
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    context: dict[str, Any] = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in defaults.items()}
    context.update(__capi_workloads_present=PRESENT, __capi_workloads_selector="app.kubernetes.io/managed-by=x",
                   omit="__omit_place_holder__")
    context.update(variables)
    templar = Templar(loader=DataLoader(), variables=context)
    for key, value in task["vars"].items():
        context[key] = templar.template(trust_as_template(value))
    templar = Templar(loader=DataLoader(), variables=context)
    args = {k: templar.template(trust_as_template(v)) if isinstance(v, str) else v
            for k, v in task["multicluster.gitops.argocd_cluster_secret"].items()}
    whens = [templar.template(trust_as_template("{{ %s }}" % cond)) for cond in task["when"]]
    return {"args": {k: v for k, v in args.items() if v != "__omit_place_holder__"}, "run": all(whens)}


def test_with_the_policy_only_oke_and_service_account_clusters_are_registered() -> None:
    """The Kyverno policy owns the other clusters (its preconditions skip OKE and credential-mode=service_account).

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (ManageLabels on every generated resource).
    """
    task = render_task(capi_workloads_kyverno_registration=True)
    assert task["run"]
    assert "label_selector" not in task["args"]
    assert task["args"]["clusters"] == [{"name": "sa-1", "namespace": "workload-clusters"},
                                        {"name": "prod-1", "namespace": "team-b"}]


@pytest.mark.parametrize("variables", [{"capi_workloads_kyverno_registration": False}, {"mcg_helm_enabled": False}],
                         ids=["policy-off", "no-kyverno-installed"])
def test_without_the_policy_every_cluster_is_registered(variables: dict[str, Any]) -> None:
    task = render_task(**variables)
    assert task["run"] and "clusters" not in task["args"]
    assert task["args"]["label_selector"] == "app.kubernetes.io/managed-by=x"


def test_nothing_to_register_skips_the_task() -> None:
    global PRESENT
    saved, PRESENT = PRESENT, [c for c in PRESENT if c["kind"] == "self-managed" and "sa" not in c["name"]]
    try:
        assert not render_task(capi_workloads_kyverno_registration=True)["run"]
    finally:
        PRESENT = saved
