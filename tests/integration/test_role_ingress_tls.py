"""Role ingress_tls against the emulated hub (Helm disabled): check mode, apply, idempotence, bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ansible import run_playbook
from tests.unit.roles.hub_lifecycle import bad_variable_run, check_apply_reapply, flat

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/ingress_tls.yml"
HOSTVARS = {"ingress_tls_acme_email": "ops@example.com", "ingress_tls_hostnames": ["argocd.example.com", "apps.example.com"]}


def _objects(server):
    def lookup():
        return {
            "ns-ingress": server.get("v1", "Namespace", "ingress-nginx"),
            "ns-cert-manager": server.get("v1", "Namespace", "cert-manager"),
            "staging": server.get("cert-manager.io/v1", "ClusterIssuer", "letsencrypt-staging"),
            "prod": server.get("cert-manager.io/v1", "ClusterIssuer", "letsencrypt-prod"),
        }
    return lookup


def test_check_apply_idempotent(hub, tmp_path: Path) -> None:
    server, kubeconfig = hub
    check, first, again = check_apply_reapply(server, kubeconfig, tmp_path, PLAYBOOK, HOSTVARS, _objects(server))
    out = flat(first.stdout)
    # Helm is skipped loudly, with the reason and what was not installed
    assert "no Helm binary or chart repository in the test environment" in out
    assert "ingress-nginx (ingress-nginx 4.13.3)" in out and "cert-manager (cert-manager v1.19.1)" in out
    # the DNS records the user must create
    assert "DNS record to create: argocd.example.com. A <load balancer address>" in out
    assert "DNS record to create: apps.example.com. A <load balancer address>" in out
    prod = server.get("cert-manager.io/v1", "ClusterIssuer", "letsencrypt-prod")
    assert prod["spec"]["acme"]["email"] == "ops@example.com"
    assert prod["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]


def test_lb_address_is_reported(hub, tmp_path: Path) -> None:
    """With Helm "enabled" but the release already present, the role waits for the NLB address and prints it."""
    server, kubeconfig = hub
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ingress-nginx"}})
    server.create({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
                   "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]}})
    server.patch_status("v1", "Service", "ingress-nginx-controller", "ingress-nginx",
                        {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}})
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig=kubeconfig, hostvars=HOSTVARS, tags="ingress_tls_verify",
                          extra_vars={"mcg_helm_enabled": True})
    assert result.rc == 0, result.stdout
    out = flat(result.stdout)
    assert "Load balancer address: 203.0.113.7" in out
    assert "DNS record to create: argocd.example.com. A 203.0.113.7" in out


def test_bad_variable_fails_in_preflight(hub, tmp_path: Path) -> None:
    """(Every bad variable is covered by tests/unit/roles/test_render_hub_roles.py; here: through the playbook.)"""
    server, kubeconfig = hub
    bad_variable_run(server, kubeconfig, tmp_path, PLAYBOOK, {**HOSTVARS, "ingress_tls_hostnames": ["bad_host"]},
                     "ingress_tls_hostnames: 'bad_host' is not a DNS name")
    assert server.get("v1", "Namespace", "ingress-nginx") is None


def test_preserve_source_with_cluster_policy_fails_before_any_change(hub, tmp_path: Path) -> None:
    """Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go
    (getPreserveSource refuses is-preserve-source with externalTrafficPolicy Cluster, so the NLB is never created).
    Asked for through the playbook, the combination stops in the preflight, before the namespaces exist."""
    server, kubeconfig = hub
    bad_variable_run(server, kubeconfig, tmp_path, PLAYBOOK, {
        **HOSTVARS, "ingress_tls_preserve_client_ip": True,
        "ingress_tls_ingress_nginx_extra_values": {"controller": {"service": {"externalTrafficPolicy": "Cluster"}}}},
        "rejects that Service and never creates the Network Load Balancer")
    assert server.get("v1", "Namespace", "ingress-nginx") is None
