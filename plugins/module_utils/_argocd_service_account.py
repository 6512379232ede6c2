# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credential mode ``service_account``: a ServiceAccount token of Argo CD's own in the workload cluster.

The CAPI kubeconfig is used only to reach the workload cluster. There the module keeps, like
``argocd cluster add``: ServiceAccount ``kube-system/argocd-manager``, ClusterRole ``argocd-manager-role``,
ClusterRoleBinding ``argocd-manager-role-binding`` and a ``kubernetes.io/service-account-token`` Secret
``kube-system/argocd-manager-token`` whose token the token controller fills. A token that the workload API
no longer accepts (401) is replaced by a new token Secret.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    Kubeconfig,
    service_account_config,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, ResourceTimeout
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    NAMESPACE,
    SECRET,
    SERVICE_ACCOUNT,
    KubeClient,
    Resource,
    api_client_from_kubeconfig,
)

__all__ = [
    "SA_NAMESPACE",
    "SA_NAME",
    "ROLE_NAME",
    "BINDING_NAME",
    "TOKEN_SECRET_NAME",
    "DEFAULT_RULES",
    "ServiceAccountResult",
    "ServiceAccountCredentials",
    "kubeconfig_client",
    "token_kubeconfig",
]

SA_NAMESPACE = "kube-system"
SA_NAME = "argocd-manager"
ROLE_NAME = "argocd-manager-role"
BINDING_NAME = "argocd-manager-role-binding"
TOKEN_SECRET_NAME = "argocd-manager-token"
DEFAULT_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
_LABELS = {"app.kubernetes.io/managed-by": "multicluster.gitops"}
_POLL_SECONDS = 0.1


def kubeconfig_client(document: dict[str, Any]) -> KubeClient:
    """A REST client for a kubeconfig given as a dict."""
    return KubeClient(api_client_from_kubeconfig(document))


def token_kubeconfig(server: str, ca_data: str, token: str, *, insecure: bool = False) -> dict[str, Any]:
    """A one-context kubeconfig that authenticates with ``token`` (used to test a token)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "argocd-manager",
        "clusters": [{"name": "workload", "cluster": cluster}],
        "users": [{"name": "argocd-manager", "user": {"token": token}}],
        "contexts": [{"name": "argocd-manager", "context": {"cluster": "workload", "user": "argocd-manager"}}],
    }


@dataclass
class ServiceAccountResult:
    """What :meth:`ServiceAccountCredentials.ensure` did in the workload cluster."""

    config: dict[str, Any] | None  # None in check mode when a new token would be issued
    token: str | None
    changes: list[str] = field(default_factory=list)


def _clean_rules(rules: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{k: v for k, v in rule.items() if v not in (None, [], "")} for rule in rules or []]


class ServiceAccountCredentials:
    """Ensures Argo CD's ServiceAccount, RBAC and token in one workload cluster."""

    def __init__(self, kubeconfig: Kubeconfig, *, rules: list[dict[str, Any]] | None = None,
                 check_mode: bool = False, timeout: float = 10.0, token_timeout: float = 10.0,
                 client_factory: Callable[[dict[str, Any]], KubeClient] = kubeconfig_client) -> None:
        self.kc = kubeconfig
        self.rules = _clean_rules(rules if rules is not None else DEFAULT_RULES)
        self.check_mode = check_mode
        self.timeout = timeout
        self.token_timeout = token_timeout
        self.client_factory = client_factory
        self.client = client_factory(kubeconfig.document)
        self.changes: list[str] = []

    # --- one request each, bounded by self.timeout --------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, write: bool = False) -> Any:
        query = {"dryRun": "All"} if write and self.check_mode else None
        return self.client.request(method, path, body=body, query=query, timeout=self.timeout)

    def _get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self._call("GET", res.path(namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def _create(self, res: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.changes.append(f"created {body['kind']} {body['metadata']['name']}")
        return self._call("POST", res.path(namespace), body, write=True)

    def _replace(self, res: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.changes.append(f"updated {body['kind']} {body['metadata']['name']}")
        return self._call("PUT", res.path(namespace, body["metadata"]["name"]), body, write=True)

    def _delete(self, res: Resource, name: str, namespace: str | None = None) -> None:
        self.changes.append(f"deleted {res.kind} {name}")
        try:
            self._call("DELETE", res.path(namespace, name), write=True)
        except ApiError as e:
            if e.status != 404:
                raise

    # --- the objects ---------------------------------------------------------------------------
    def _ensure_service_account(self) -> None:
        if self._get(SERVICE_ACCOUNT, SA_NAME, SA_NAMESPACE) is not None:
            return
        body = {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": SA_NAME, "namespace": SA_NAMESPACE, "labels": dict(_LABELS)}}
        try:
            self._create(SERVICE_ACCOUNT, body, SA_NAMESPACE)
        except ApiError as e:
            if e.status != 404:  # 404: the namespace is missing (kube-system always exists in a real cluster)
                raise
            self.changes.pop()
            self._create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SA_NAMESPACE}})
            self._create(SERVICE_ACCOUNT, body, SA_NAMESPACE)

    def _ensure_cluster_role(self) -> None:
        live = self._get(CLUSTER_ROLE, ROLE_NAME)
        body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": ROLE_NAME, "labels": dict(_LABELS)}, "rules": self.rules}
        if live is None:
            self._create(CLUSTER_ROLE, body)
        elif _clean_rules(live.get("rules")) != self.rules:
            body["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
            self._replace(CLUSTER_ROLE, body)

    def _ensure_binding(self) -> None:
        live = self._get(CLUSTER_ROLE_BINDING, BINDING_NAME)
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE_NAME}
        subjects = [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}]
        body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": BINDING_NAME, "labels": dict(_LABELS)},
                "roleRef": role_ref, "subjects": subjects}
        if live is None:
            self._create(CLUSTER_ROLE_BINDING, body)
        elif live.get("roleRef") != role_ref:  # roleRef is immutable
            self._delete(CLUSTER_ROLE_BINDING, BINDING_NAME)
            self._create(CLUSTER_ROLE_BINDING, body)
        elif live.get("subjects") != subjects:
            body["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
            self._replace(CLUSTER_ROLE_BINDING, body)

    def _token_secret_body(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": {"name": TOKEN_SECRET_NAME, "namespace": SA_NAMESPACE, "labels": dict(_LABELS),
                             "annotations": {"kubernetes.io/service-account.name": SA_NAME}}}

    def _wait_for_token(self) -> str:
        deadline = time.monotonic() + self.token_timeout
        while True:
            secret = self._get(SECRET, TOKEN_SECRET_NAME, SA_NAMESPACE)
            token = _token_of(secret)
            if token:
                return token
            if time.monotonic() >= deadline:
                raise ResourceTimeout(f"the token controller of {self.kc.server} did not fill Secret "
                                      f"{SA_NAMESPACE}/{TOKEN_SECRET_NAME} within {self.token_timeout:g}s; "
                                      "check that kube-controller-manager runs, or raise token_timeout")
            time.sleep(_POLL_SECONDS)

    def token_works(self, token: str) -> bool:
        """One authenticated GET of /version with ``token``: False on 401, True on any other answer."""
        client = self.client_factory(token_kubeconfig(self.kc.server, self.kc.ca_data, token,
                                                      insecure=self.kc.insecure))
        try:
            client.request("GET", "/version", timeout=self.timeout)
        except ApiError as e:
            if e.status == 401:
                return False
            if e.status is None:
                raise
        return True

    def _issue_token(self, replace: bool) -> str | None:
        if replace:
            self._delete(SECRET, TOKEN_SECRET_NAME, SA_NAMESPACE)
        self._create(SECRET, self._token_secret_body(), SA_NAMESPACE)
        if self.check_mode:
            return None
        return self._wait_for_token()

    def ensure(self) -> ServiceAccountResult:
        """Ensure the ServiceAccount, its RBAC and a working token; return the Argo CD config."""
        self._ensure_service_account()
        self._ensure_cluster_role()
        self._ensure_binding()
        secret = self._get(SECRET, TOKEN_SECRET_NAME, SA_NAMESPACE)
        token = _token_of(secret)
        if secret is None:
            token = self._issue_token(replace=False)
        elif not token:
            token = None if self.check_mode else self._wait_for_token()
        if token and not self.token_works(token):
            self.changes.append("the previous token was rejected (401)")
            token = self._issue_token(replace=True)
        config = service_account_config(token, self.kc.ca_data, insecure=self.kc.insecure) if token else None
        return ServiceAccountResult(config=config, token=token, changes=list(self.changes))


def _token_of(secret: dict[str, Any] | None) -> str | None:
    encoded = ((secret or {}).get("data") or {}).get("token")
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
