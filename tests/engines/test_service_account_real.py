"""Credential mode ``service_account`` against a second real kube-apiserver standing in for a workload cluster.

``ServiceAccountCredentials`` (plugins/module_utils/_argocd_service_account.py, what argocd_cluster_secret runs
in that mode) is pointed at a real control plane (etcd + kube-apiserver with ``--authorization-mode=Node,RBAC``
+ kube-controller-manager with the serviceaccount-token controller): the ServiceAccount, ClusterRole,
ClusterRoleBinding and token Secret it writes are judged by real RBAC, the token is filled by the real token
controller, and a revoked token is refused (401) by the real authenticator, which the module must notice.

Skipped with the reason when `python -m realengines build kube` has not run (failed instead with
MCG_ENGINES_REQUIRED=1).
"""
from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import parse_kubeconfig
from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_service_account import (
    BINDING_NAME,
    ROLE_NAME,
    SA_NAME,
    SA_NAMESPACE,
    TOKEN_SECRET_NAME,
    ServiceAccountCredentials,
)
from realengines.kube import KubeAPIServer

pytestmark = pytest.mark.engines


@pytest.fixture
def workload(real_server_factory) -> KubeAPIServer:
    """A second real control plane with the token controller, standing in for a workload cluster."""
    return real_server_factory("sa-workload", controller_manager=True)


def credentials(server: KubeAPIServer, **kwargs: Any) -> ServiceAccountCredentials:
    """The module's service_account path, reaching ``server`` with its admin kubeconfig (as with a CAPI one)."""
    kubeconfig = parse_kubeconfig(server.kubeconfig_dict(), base64_encoded=False)
    return ServiceAccountCredentials(kubeconfig, token_timeout=60, **kwargs)


def with_token(server: KubeAPIServer, token: str, path: str) -> int:
    """HTTP status of GET ``path`` on ``server`` authenticated with bearer ``token`` only."""
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}",
                                                             "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_token_of_the_service_account_is_authorized_by_real_rbac(workload: KubeAPIServer) -> None:
    """The default rules (everything) give the token what Argo CD needs; the objects are the ones
    ``argocd cluster add`` creates, and a second ensure() changes nothing.

    Upstream: kubernetes/kubernetes @ v1.34.4 : pkg/controller/serviceaccount/tokens_controller.go (fills a
    kubernetes.io/service-account-token Secret), pkg/serviceaccount/legacy.go (the token authenticates as
    system:serviceaccount:kube-system:argocd-manager), plugin/pkg/auth/authorizer/rbac/rbac.go (the
    ClusterRoleBinding authorizes it)."""
    first = credentials(workload).ensure()
    assert first.token and first.config and first.config["bearerToken"] == first.token
    assert sorted(first.changes) == sorted([f"created ServiceAccount {SA_NAME}", f"created ClusterRole {ROLE_NAME}",
                                            f"created ClusterRoleBinding {BINDING_NAME}",
                                            f"created Secret {TOKEN_SECRET_NAME}"])
    assert with_token(workload, first.token, "/api/v1/namespaces") == 200
    assert with_token(workload, first.token, f"/api/v1/namespaces/{SA_NAMESPACE}/secrets") == 200
    again = credentials(workload).ensure()
    assert (again.token, again.changes) == (first.token, [])


def test_narrow_rules_are_enforced_by_real_rbac(workload: KubeAPIServer) -> None:
    """With service_account_rules limited to reading namespaces, the real authorizer refuses anything else.

    Upstream: kubernetes/kubernetes @ v1.34.4 : plugin/pkg/auth/authorizer/rbac/rbac.go (deny unless a rule
    allows: 403 naming system:serviceaccount:kube-system:argocd-manager)."""
    rules = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}]
    result = credentials(workload, rules=rules).ensure()
    assert result.token
    assert with_token(workload, result.token, "/api/v1/namespaces") == 200
    assert with_token(workload, result.token, f"/api/v1/namespaces/{SA_NAMESPACE}/secrets") == 403
    # widening the rules again (the module's default) is applied to the live ClusterRole
    widened = credentials(workload).ensure()
    assert f"updated ClusterRole {ROLE_NAME}" in widened.changes
    assert with_token(workload, widened.token, f"/api/v1/namespaces/{SA_NAMESPACE}/secrets") == 200


def test_a_revoked_token_is_replaced(workload: KubeAPIServer) -> None:
    """Recreating the ServiceAccount revokes its old token for real (401: the token's UID claim no longer
    matches); ensure() notices and issues a token that works.

    Upstream: kubernetes/kubernetes @ v1.34.4 : pkg/serviceaccount/legacy.go (Validate: the token Secret must
    exist with the same token, and the ServiceAccount with the UID of the claim), pkg/controller/
    serviceaccount/tokens_controller.go (token Secrets of a deleted ServiceAccount are deleted)."""
    old = credentials(workload).ensure().token
    assert old and with_token(workload, old, "/api/v1/namespaces") == 200
    status, body = workload.request("DELETE", f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts/{SA_NAME}")
    assert status == 200, body
    status, body = workload.request("POST", f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts",
                                    {"metadata": {"name": SA_NAME, "namespace": SA_NAMESPACE}})
    assert status == 201, body
    deadline = time.monotonic() + 30
    while with_token(workload, old, "/api/v1/namespaces") != 401:
        assert time.monotonic() < deadline, "the real authenticator still accepts the token of the old ServiceAccount"
        time.sleep(0.5)
    # The token controller deletes the old Secret soon; while it is still there the module must find its token
    # refused by the server itself (no other sign: the Secret looks as before).
    status, secret = workload.request("GET", f"/api/v1/namespaces/{SA_NAMESPACE}/secrets/{TOKEN_SECRET_NAME}")
    stale = status == 200 and base64.b64decode(secret["data"]["token"]).decode() == old
    renewed = credentials(workload).ensure()
    assert renewed.token and renewed.token != old, json.dumps(renewed.changes)
    assert f"created Secret {TOKEN_SECRET_NAME}" in renewed.changes
    if stale:
        assert "the previous token was rejected (401)" in renewed.changes, renewed.changes
    print(f"old token Secret still present at ensure(): {stale}; changes: {renewed.changes}")
    assert with_token(workload, renewed.token, "/api/v1/namespaces") == 200
