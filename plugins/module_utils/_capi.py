# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about Cluster API objects shared by the collection's modules (both v1beta1 and v1beta2 shapes)."""
from __future__ import annotations

from typing import Any

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, InvalidInput
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import KubeClient, Resource

__all__ = ["CAPI_GROUP", "OKE_KINDS", "capi_cluster_resource", "cluster_kind", "is_oke"]

CAPI_GROUP = "cluster.x-k8s.io"
# Infrastructure / control-plane kinds of CAPOCI's OKE-managed clusters.
OKE_KINDS = frozenset({"OCIManagedCluster", "OCIManagedControlPlane"})
_SELF_MANAGED_KINDS = frozenset({"OCICluster", "KubeadmControlPlane"})


def capi_cluster_resource(client: KubeClient, api_version: str | None = None) -> Resource:
    """The Cluster resource at `api_version`, or at the version the server prefers (one GET of /apis/<group>)."""
    if api_version:
        return Resource(CAPI_GROUP, api_version.rsplit("/", 1)[-1], "clusters", "Cluster")
    try:
        group = client.request("GET", f"/apis/{CAPI_GROUP}")
    except ApiError as e:
        if e.status == 404:
            raise InvalidInput(f"{client.host} serves no {CAPI_GROUP} API group: install Cluster API (role "
                               "capi_workloads) on this cluster, or point the module at the management cluster") from e
        raise
    group = group or {}
    version = (group.get("preferredVersion") or {}).get("version") or next(
        (v.get("version") for v in group.get("versions") or [] if v.get("version")), None)
    if not version:
        raise ApiError(f"GET /apis/{CAPI_GROUP} on {client.host} lists no version: {group!r}")
    return Resource(CAPI_GROUP, version, "clusters", "Cluster")


def _ref_kinds(cluster: dict[str, Any]) -> tuple[str, str]:
    spec = cluster.get("spec") or {}
    return ((spec.get("infrastructureRef") or {}).get("kind") or "",
            (spec.get("controlPlaneRef") or {}).get("kind") or "")


def is_oke(cluster: dict[str, Any]) -> bool:
    """An OKE-managed cluster (CAPOCI OCIManagedCluster / OCIManagedControlPlane)."""
    return any(kind in OKE_KINDS for kind in _ref_kinds(cluster))


def cluster_kind(cluster: dict[str, Any]) -> str:
    """`oke`, `self-managed` (kubeadm on OCI compute), or the infrastructure kind for other providers."""
    if is_oke(cluster):
        return "oke"
    infra, control_plane = _ref_kinds(cluster)
    if infra in _SELF_MANAGED_KINDS or control_plane in _SELF_MANAGED_KINDS:
        return "self-managed"
    return infra or "unknown"
