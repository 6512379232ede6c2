"""kubernetes.core modules through ansible-playbook: check mode, create, apply, SSA, k8s_info, wait."""
from __future__ import annotations

import pytest

from tests.helpers.ansible import run_playbook

from .conftest import deployment

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: ConfigMap with k8s
      kubernetes.core.k8s:
        definition:
          apiVersion: v1
          kind: ConfigMap
          metadata: {name: plain, namespace: default, labels: {app: demo}}
          data: {a: "1"}
    - name: ConfigMap with client-side apply
      kubernetes.core.k8s:
        apply: true
        definition:
          apiVersion: v1
          kind: ConfigMap
          metadata: {name: applied, namespace: default, labels: {app: demo}}
          data: {b: "2"}
    - name: Secret with server-side apply
      kubernetes.core.k8s:
        server_side_apply: {field_manager: kubemu-conformance}
        definition:
          apiVersion: v1
          kind: Secret
          metadata: {name: ssa, namespace: default, labels: {app: other}}
          stringData: {c: "3"}
    - name: A ConfigMap in check mode (server-side dryRun)
      kubernetes.core.k8s:
        definition:
          apiVersion: v1
          kind: ConfigMap
          metadata: {name: dry, namespace: default, labels: {app: demo}}
      check_mode: true
      register: dry
    - name: Deployments by label, waiting until Available
      kubernetes.core.k8s_info:
        kind: Deployment
        namespace: default
        label_selectors: ["app=demo", "tier notin (db)"]
        wait: true
        wait_timeout: 20
        wait_condition: {type: Available, status: "True"}
      register: web
    - name: Results
      ansible.builtin.assert:
        that:
          - dry is changed
          - (web.resources | map(attribute='metadata.name') | list) == ['web']
          - web.resources[0].status.availableReplicas == 1
"""


@pytest.mark.integration
@pytest.mark.slow
def test_kubernetes_core_modules_are_idempotent_and_check_mode_stores_nothing(kube_server_factory, tmp_path):
    srv = kube_server_factory("ansible")
    kubeconfig = srv.write_kubeconfig(tmp_path / "kubeconfig.yaml")
    status = {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
              "updatedReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
    for name, tier in (("web", "front"), ("db", "db")):
        dep = deployment(name, "default", tier=tier)
        dep["metadata"]["labels"]["app"] = "demo"
        srv.create(dep | {"status": status})
    env = {"K8S_AUTH_KUBECONFIG": str(kubeconfig)}

    first = run_playbook(tmp_path / "first", PLAYBOOK, env=env)
    assert first.rc == 0, first.stdout
    assert first.changed() == 4  # three objects written, plus the check-mode task
    assert srv.get("v1", "Secret", "ssa", "default")["data"] == {"c": "Mw=="}
    assert srv.get("v1", "ConfigMap", "applied", "default")["data"] == {"b": "2"}

    second = run_playbook(tmp_path / "second", PLAYBOOK, env=env)
    assert second.rc == 0, second.stdout
    assert second.changed() == 1, second.stdout  # only the check-mode task, whose object never exists
    assert srv.get("v1", "ConfigMap", "dry", "default") is None
