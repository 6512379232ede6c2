"""Role kyverno_policies against the emulated hub: apply, idempotence, check mode, bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ansible import ROOT, run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/kyverno_policies.yml"
POLICY = "multicluster-gitops-register-capi-clusters"
RBAC = "multicluster-gitops-kyverno-registration"
# No Kyverno runs against the emulated hub, so nothing sets the policy's Ready condition.
HOSTVARS = {"kyverno_policies_wait_ready": False}


@pytest.fixture
def hub(hub):
    """The shared fresh hub, with the Argo CD namespace the policy writes into."""
    hub[0].create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    return hub


def _objects(server) -> dict[str, dict | None]:
    return {
        "policy": server.get("kyverno.io/v1", "ClusterPolicy", POLICY),
        "role": server.get("rbac.authorization.k8s.io/v1", "Role", RBAC, "argocd"),
        "binding": server.get("rbac.authorization.k8s.io/v1", "RoleBinding", RBAC, "argocd"),
        "capi": server.get("rbac.authorization.k8s.io/v1", "ClusterRole", f"{RBAC}:capi-clusters"),
        "secrets": server.get("rbac.authorization.k8s.io/v1", "ClusterRole", f"{RBAC}:kubeconfig-secrets"),
    }


def test_apply_then_idempotent(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    first = run_playbook(tmp_path / "1", PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS)
    assert first.rc == 0, first.stdout
    assert first.changed() == 1, first.stdout  # the task applying the RBAC and the policy
    assert "Skipped the Kyverno chart 3.8.2" in first.stdout
    objects = _objects(server)
    assert all(objects.values()), {k: v is not None for k, v in objects.items()}
    rule = objects["policy"]["spec"]["rules"][0]
    assert rule["generate"]["synchronize"] is True and rule["generate"]["namespace"] == "argocd"
    # the hub's own API URL (from mcg_hub_kubeconfig) is in the never-register list
    hub_urls = [c for c in rule["preconditions"]["all"] if c["operator"] == "AnyNotIn"][0]["value"]
    assert server.url.lower().rstrip("/") in hub_urls

    second = run_playbook(tmp_path / "2", PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS)
    assert second.rc == 0, second.stdout
    assert second.changed() == 0, second.stdout


def test_check_mode_changes_nothing(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS, check=True, diff=True)
    assert result.rc == 0, result.stdout
    assert result.changed() == 1, result.stdout  # reports what a real run would change
    assert not any(_objects(server).values()), "check mode wrote to the hub"


def test_bad_variable_fails_in_preflight(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig,
                          hostvars={**HOSTVARS, "kyverno_policies_argocd_namespace": "Argo_CD"})
    assert result.rc != 0
    assert "kyverno_policies_argocd_namespace" in result.stdout and "Argo_CD" in result.stdout
    assert "Check kyverno_policies_argocd_namespace" in result.stdout
    assert not any(_objects(server).values()), "a failed preflight must not change the hub"


@pytest.mark.parametrize("version", ["3.7.0", "3.7.2"])
def test_kyverno_1_17_chart_is_refused(hub, tmp_path: Path, version: str) -> None:
    """Charts 3.7.x install Kyverno 1.17.x, which cancels a generate rule's apiCall at admission.

    Upstream: kyverno/kyverno @ v1.17.2 : pkg/webhooks/resource/updaterequest.go (handleBackgroundApplies
    passes the admission request's context to handleGenerate; issue #15330 "APICall: context-cancelled"),
    fixed at kyverno/kyverno @ v1.18.0 : the same file (a context of its own). Chart to app version:
    kyverno/kyverno @ kyverno-chart-3.7.2 : charts/kyverno/Chart.yaml (appVersion v1.17.2).
    """
    server, kubeconfig = hub
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig,
                          hostvars={**HOSTVARS, "kyverno_policies_chart_version": version})
    assert result.rc != 0, result.stdout
    assert f"kyverno_policies_chart_version {version} installs Kyverno 1.17.x" in result.stdout, result.stdout
    assert "#15330" in result.stdout and "chart 3.8.2" in result.stdout
    assert not any(_objects(server).values()), "a failed preflight must not change the hub"


def test_check_mode_on_a_fresh_hub_reports_the_argocd_rbac(kube_require_crds, kube_server_factory, tmp_path: Path) -> None:
    """A hub without the Argo CD namespace yet (site.yml --check before the first run): check mode cannot
    dry-run the Role and RoleBinding there (the API answers 404), so it reports them and applies the rest."""
    server = kube_server_factory("hub", crd_dir=kube_require_crds)
    kubeconfig = server.write_kubeconfig(tmp_path / "hub.kubeconfig")
    result = run_playbook(tmp_path / "run", PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS, check=True)
    assert result.rc == 0, result.stdout
    assert f"would create Role argocd/{RBAC}" in result.stdout, result.stdout
    assert f"would create RoleBinding argocd/{RBAC}" in result.stdout, result.stdout
    assert result.changed() >= 1, result.stdout
    assert not any(_objects(server).values()), "check mode wrote to the hub"


def test_no_deprecation_warning(hub, tmp_path: Path) -> None:
    """The role uses no deprecated option: kubernetes.core.k8s's `template:` printed a deprecation warning
    on every run; the objects are now rendered with the template lookup and passed as `definition`."""
    server, kubeconfig = hub
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS,
                          env={"ANSIBLE_DEPRECATION_WARNINGS": "1"})
    assert result.rc == 0, result.stdout
    assert "DEPRECATION" not in result.stdout.upper(), result.stdout
    assert all(_objects(server).values())


BAD_KUBECONFIGS = {
    "missing": None,
    "not-yaml": "this: is: not: yaml: [",
    "not-a-mapping": "just some text\n",
    "no-context": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    "unknown-current-context": ("apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: hub\n  cluster:\n"
                                "    server: https://127.0.0.1:1\ncontexts:\n- name: hub\n  context:\n    cluster: hub\n"
                                "    user: admin\nusers:\n- name: admin\n  user:\n    token: s3cr3t-token-value\n"),
}


@pytest.mark.parametrize("case", sorted(BAD_KUBECONFIGS))
def test_bad_hub_kubeconfig_is_named_with_its_path(case: str, tmp_path: Path) -> None:
    """A missing or unusable mcg_hub_kubeconfig fails before the roles with the variable and the path; before,
    kubernetes.core masked the path (its kubeconfig option is no_log) and a non-YAML file surfaced as an error
    about the role's internal _kyverno_policies_hub_urls."""
    path = tmp_path / f"{case}.kubeconfig"
    if BAD_KUBECONFIGS[case] is not None:
        path.write_text(BAD_KUBECONFIGS[case])
    result = run_playbook(tmp_path / "run", PLAYBOOK, kubeconfig=path, hostvars=HOSTVARS)
    assert result.rc != 0, result.stdout
    flat = " ".join(result.stdout.split())
    assert f"mcg_hub_kubeconfig is {path}" in flat, result.stdout
    assert "_kyverno_policies_hub_urls" not in result.stdout
    assert "s3cr3t-token-value" not in result.stdout
    assert "TASK [multicluster.gitops.kyverno_policies" not in result.stdout, "the role ran with an unusable kubeconfig"


@pytest.mark.parametrize("playbook", ["playbooks/ingress_tls.yml", "playbooks/argocd.yml", "playbooks/capi_workloads.yml",
                                      "playbooks/appsets.yml", "playbooks/summary.yml"])
def test_every_hub_playbook_checks_the_kubeconfig_first(playbook: str, tmp_path: Path) -> None:
    path = tmp_path / "absent.kubeconfig"
    result = run_playbook(tmp_path / "run", playbook, kubeconfig=path, hostvars=HOSTVARS)
    assert result.rc != 0 and result.failed() == 1, result.stdout
    assert f"mcg_hub_kubeconfig is {path}, which is not a file" in " ".join(result.stdout.split()), result.stdout


def test_kubeconfig_is_checked_once_per_run_for_the_same_path(hub, tmp_path: Path) -> None:
    """The plays of site.yml each import tasks/hub_kubeconfig.yml; the checks run in the first play only, and again
    in a later play whose mcg_hub_kubeconfig differs (there: fails naming the other path)."""
    absent = tmp_path / "absent.kubeconfig"
    check = f"{ROOT}/playbooks/tasks/hub_kubeconfig.yml"
    plays = "".join(f"""
- hosts: hub
  gather_facts: false
  {vars_}
  pre_tasks:
    - ansible.builtin.import_tasks: {check}
  tasks:
    - ansible.builtin.debug:
        msg: play {n} ran
""" for n, vars_ in ((1, ""), (2, ""), (3, f"vars: {{mcg_hub_kubeconfig: '{absent}'}}")))
    result = run_playbook(tmp_path, plays, kubeconfig=hub[1])
    assert result.rc != 0, result.stdout
    out = " ".join(result.stdout.split())
    assert "play 1 ran" in out and "play 2 ran" in out and "play 3 ran" not in out, result.stdout
    assert result.stdout.count("TASK [Check that mcg_hub_kubeconfig is a kubeconfig with the hub's context]") == 1
    assert result.stdout.count("TASK [Check that mcg_hub_kubeconfig exists]") == 2, result.stdout
    assert f"mcg_hub_kubeconfig is {absent}, which is not a file" in out, result.stdout
