"""Role argocd against the emulated hub (Helm disabled): check mode, apply, idempotence, password hash, bad input."""
from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from tests.helpers.ansible import run_playbook
from tests.unit.roles.hub_lifecycle import bad_variable_run, check_apply_reapply, flat

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/argocd.yml"
PASSWORD = "correct-horse-battery"
HOSTVARS = {"argocd_hostname": "argocd.example.com", "argocd_admin_password": PASSWORD}


def _objects(server):
    def lookup():
        return {
            "namespace": server.get("v1", "Namespace", "argocd"),
            "certificate": server.get("cert-manager.io/v1", "Certificate", "argocd-server-tls", "argocd"),
            "ingress": server.get("networking.k8s.io/v1", "Ingress", "argocd-server", "argocd"),
        }
    return lookup


def test_check_apply_idempotent(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub

    def chart_leftovers() -> None:
        # what the chart's install leaves behind and the role must remove
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
        server.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": "argocd-initial-admin-secret", "namespace": "argocd"},
                       "data": {"password": base64.b64encode(b"generated").decode()}})

    check, first, again = check_apply_reapply(server, kubeconfig, tmp_path, PLAYBOOK, HOSTVARS, _objects(server),
                                              before_apply=chart_leftovers)
    assert "Check mode: namespace argocd does not exist yet" in flat(check.stdout)
    out = flat(first.stdout)
    assert server.get("v1", "Secret", "argocd-initial-admin-secret", "argocd") is None
    assert "Not installed: argocd (argo-cd 9.2.2) in argocd" in out
    assert PASSWORD not in first.stdout
    ingress = server.get("networking.k8s.io/v1", "Ingress", "argocd-server", "argocd")
    assert ingress["spec"]["tls"] == [{"hosts": ["argocd.example.com"], "secretName": "argocd-server-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    cert = server.get("cert-manager.io/v1", "Certificate", "argocd-server-tls", "argocd")
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt-prod"
    assert cert["spec"]["dnsNames"] == ["argocd.example.com"]


HASH_PLAYBOOK = """
- name: Hash of the admin password against a live argocd-secret
  hosts: hub
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s:
      kubeconfig: "{{ mcg_hub_kubeconfig }}"
  tasks:
    - name: Install phase (Helm disabled)
      ansible.builtin.include_role:
        name: multicluster.gitops.argocd
        tasks_from: install.yml
    - name: Same password, live hash kept
      ansible.builtin.copy:
        content: "{{ {'hash': __argocd_admin_password_hash, 'mtime': __argocd_admin_password_mtime} | to_json }}"
        dest: "{{ out }}/same.json"
        mode: "0600"
- name: Another password
  hosts: hub
  gather_facts: false
  vars:
    argocd_admin_password: another-password
  module_defaults:
    group/kubernetes.core.k8s:
      kubeconfig: "{{ mcg_hub_kubeconfig }}"
  tasks:
    - name: Install phase (Helm disabled)
      ansible.builtin.include_role:
        name: multicluster.gitops.argocd
        tasks_from: install.yml
    - name: New hash
      ansible.builtin.copy:
        content: "{{ {'hash': __argocd_admin_password_hash, 'mtime': __argocd_admin_password_mtime} | to_json }}"
        dest: "{{ out }}/other.json"
        mode: "0600"
"""


def test_admin_password_hash_follows_the_live_secret(hub, tmp_path: Path) -> None:
    import json
    server, kubeconfig = hub
    live = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    server.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "argocd-secret", "namespace": "argocd"},
                   "data": {"admin.password": base64.b64encode(live.encode()).decode(),
                            "admin.passwordMtime": base64.b64encode(b"2026-01-02T03:04:05Z").decode()}})
    result = run_playbook(tmp_path, HASH_PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS,
                          extra_vars={"out": str(tmp_path)})
    assert result.rc == 0, result.stdout
    same = json.loads((tmp_path / "same.json").read_text())
    assert same == {"hash": live, "mtime": "2026-01-02T03:04:05Z"}
    other = json.loads((tmp_path / "other.json").read_text())
    assert other["hash"] != live and bcrypt.checkpw(b"another-password", other["hash"].encode())
    assert other["mtime"] != "2026-01-02T03:04:05Z"
    assert PASSWORD not in result.stdout and live not in result.stdout


def test_bad_variable_fails_in_preflight(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    bad_variable_run(server, kubeconfig, tmp_path, PLAYBOOK, {**HOSTVARS, "argocd_hostname": "argocd_example"},
                     "argocd_hostname must be the DNS name")
    assert server.get("v1", "Namespace", "argocd") is None
