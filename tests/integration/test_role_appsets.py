"""Role appsets against the emulated hub: check mode, apply, idempotence, a progressive rollout, bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ansible import run_playbook
from tests.unit.roles.hub_lifecycle import bad_variable_run, check_apply_reapply, flat

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/appsets.yml"
ARGO = "argoproj.io/v1alpha1"
ROLLOUT_VARS = {"argocd_progressive_syncs": True, "appsets_applicationsets": [{
    "name": "guestbook", "repo_url": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook",
    "namespace": "guestbook",
    "rollout": {"steps": [{"match_labels": {"env": ["test"]}, "max_update": 1},
                          {"match_labels": {"env": ["prod"]}, "max_update": "25%"}]}}]}


def _argocd_namespace(server) -> None:
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})


def test_check_mode_with_argocd_installed_and_a_rollout(hub, tmp_path: Path) -> None:
    """With the namespace there, check mode has the server dry-run the objects (schema included) and creates nothing."""
    server, kubeconfig = hub
    _argocd_namespace(server)
    server.reset_counters()
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig, hostvars=ROLLOUT_VARS, check=True, diff=True)
    assert result.rc == 0, result.stdout
    assert result.changed() == 1, result.stdout  # one task, the AppProject and the ApplicationSets would be created
    # the objects went to the server as dry runs (validated against the CRD schema there), not only predicted
    assert server.requests[("POST", "applicationsets")] >= 1 and server.requests[("POST", "appprojects")] >= 1
    assert server.get(ARGO, "AppProject", "workloads", "argocd") is None
    assert server.get(ARGO, "ApplicationSet", "guestbook", "argocd") is None


def test_missing_argocd_namespace_is_reported(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig)
    assert result.rc != 0 and result.failed() == 1, result.stdout
    assert "install Argo CD first (playbooks/argocd.yml)" in flat(result.stdout)


def test_default_guestbook_check_apply_idempotent(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub

    def lookup():
        return {"project": server.get(ARGO, "AppProject", "workloads", "argocd"),
                "guestbook": server.get(ARGO, "ApplicationSet", "guestbook", "argocd")}

    # check mode on a hub without Argo CD, then the real runs once its namespace exists
    check, first, again = check_apply_reapply(server, kubeconfig, tmp_path, PLAYBOOK, {}, lookup,
                                              before_apply=lambda: _argocd_namespace(server))
    assert "Check mode: namespace argocd does not exist yet" in flat(check.stdout)
    project = server.get(ARGO, "AppProject", "workloads", "argocd")
    assert project["spec"]["destinations"] == [
        {"server": "!https://kubernetes.default.svc", "name": "!in-cluster", "namespace": "*"}]
    appset = server.get(ARGO, "ApplicationSet", "guestbook", "argocd")
    assert appset["spec"]["goTemplate"] is True
    assert appset["spec"]["template"]["metadata"]["name"] == '{{ index .metadata.labels "multicluster.gitops/cluster-name" }}-guestbook'
    assert appset["spec"]["template"]["spec"]["destination"]["server"] == "{{ .server }}"
    assert "guestbook: 0 Application(s)" in flat(first.stdout)


def test_rollout_on_unknown_label_fails_in_preflight(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    hostvars = {"argocd_progressive_syncs": True, "appsets_applicationsets": [{
        "name": "guestbook", "repo_url": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook",
        "namespace": "guestbook", "rollout": {"steps": [{"match_labels": {"stage": ["canary"]}}]}}]}
    result = bad_variable_run(server, kubeconfig, tmp_path, PLAYBOOK, hostvars, "appsets_applicationsets[0].rollout")
    assert "Unknown label(s): stage" in flat(result.stdout)
    assert server.get(ARGO, "AppProject", "workloads", "argocd") is None


def _appset_item(name: str) -> dict:
    return {"name": name, "repo_url": "https://github.com/argoproj/argocd-example-apps.git", "path": name,
            "namespace": name}


def test_applicationsets_dropped_from_the_list_are_deleted_only_if_ours(hub, tmp_path: Path) -> None:
    """An ApplicationSet the role created (label multicluster.gitops/owner=appsets) that leaves appsets_applicationsets
    is deleted; one without that label (even with app.kubernetes.io/managed-by=multicluster.gitops) is never touched.
    Check mode reports the deletion without making it; the run after it changes nothing."""
    server, kubeconfig = hub
    _argocd_namespace(server)
    both = {"appsets_applicationsets": [_appset_item("guestbook"), _appset_item("helm-guestbook")]}
    first = run_playbook(tmp_path / "first", PLAYBOOK, kubeconfig=kubeconfig, hostvars=both)
    assert first.rc == 0, first.stdout[-4000:]
    assert server.get(ARGO, "ApplicationSet", "helm-guestbook", "argocd")["metadata"]["labels"][
        "multicluster.gitops/owner"] == "appsets"
    by_hand = server.get(ARGO, "ApplicationSet", "helm-guestbook", "argocd")
    by_hand = {**by_hand, "metadata": {"name": "by-hand", "namespace": "argocd",
                                       "labels": {"app.kubernetes.io/managed-by": "multicluster.gitops"}}}
    server.create(by_hand)

    one = {"appsets_applicationsets": [_appset_item("guestbook")]}
    check = run_playbook(tmp_path / "check", PLAYBOOK, kubeconfig=kubeconfig, hostvars=one, check=True, diff=True)
    assert check.rc == 0 and check.changed() == 1, check.stdout[-4000:]
    assert server.get(ARGO, "ApplicationSet", "helm-guestbook", "argocd") is not None

    pruned = run_playbook(tmp_path / "pruned", PLAYBOOK, kubeconfig=kubeconfig, hostvars=one)
    assert pruned.rc == 0 and pruned.changed() == 1, pruned.stdout[-4000:]
    assert server.get(ARGO, "ApplicationSet", "helm-guestbook", "argocd") is None
    assert server.get(ARGO, "ApplicationSet", "guestbook", "argocd") is not None
    assert server.get(ARGO, "ApplicationSet", "by-hand", "argocd") is not None

    again = run_playbook(tmp_path / "again", PLAYBOOK, kubeconfig=kubeconfig, hostvars=one)
    assert again.rc == 0 and again.changed() == 0, again.stdout[-4000:]

    # appsets_prune: false keeps even the role's own
    assert run_playbook(tmp_path / "both", PLAYBOOK, kubeconfig=kubeconfig, hostvars=both).rc == 0
    kept = run_playbook(tmp_path / "kept", PLAYBOOK, kubeconfig=kubeconfig, hostvars={**one, "appsets_prune": False})
    assert kept.rc == 0 and kept.changed() == 0, kept.stdout[-4000:]
    assert server.get(ARGO, "ApplicationSet", "helm-guestbook", "argocd") is not None


def test_verify_reports_what_the_apply_returned(hub, tmp_path: Path) -> None:
    """The verify phase reports each ApplicationSet's Applications from the objects the apply returned (no list
    request); run alone (--tags appsets_verify) it reads them back."""
    server, kubeconfig = hub
    _argocd_namespace(server)
    assert run_playbook(tmp_path / "first", PLAYBOOK, kubeconfig=kubeconfig).rc == 0
    server.patch_status(ARGO, "ApplicationSet", "guestbook", "argocd", {"resources": [
        {"name": "wl-1-guestbook", "kind": "Application"}, {"name": "wl-2-guestbook", "kind": "Application"}]})
    # a whole run: the apply's GET of the object and the prune phase's list; verify alone: its read
    for tags, gets in ((None, 2), ("appsets_verify", 1)):
        server.reset_counters()
        result = run_playbook(tmp_path / (tags or "all"), PLAYBOOK, kubeconfig=kubeconfig, tags=tags)
        assert result.rc == 0, result.stdout
        assert "guestbook: 2 Application(s) wl-1-guestbook, wl-2-guestbook" in flat(result.stdout), result.stdout
        assert server.requests[("GET", "applicationsets")] == gets, (tags, dict(server.requests))
