"""Resource types the server knows (built-ins and CRDs) and the discovery documents built from them."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = ["ResourceType", "Registry", "BUILTIN_TYPES", "crd_to_type"]

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: ``/apis/<group>/<version>/[namespaces/<ns>/]<plural>``."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status: bool = False
    categories: tuple[str, ...] = ()
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    crd: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def tracks_generation(self) -> bool:
        """Whether metadata.generation is set (1 on create, +1 per spec change): custom resources and
        the built-ins whose registry strategy does so (kubernetes/kubernetes @ v1.34.4 : pkg/registry/*/*/strategy.go);
        ConfigMaps, Secrets, Namespaces, Services... have none."""
        return self.crd or self.key in GENERATION_BUILTINS

    @property
    def key(self) -> tuple[str, str]:
        """Storage identity: one stored copy whatever version serves it."""
        return (self.group, self.plural)

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def api_resources(self) -> list[dict[str, Any]]:
        """Entries for an APIResourceList (the resource and its subresources)."""
        main: dict[str, Any] = {
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        if self.status:
            out.append({"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                        "kind": self.kind, "verbs": list(SUB_VERBS)})
        return out


# Built-ins whose PrepareForCreate sets Generation = 1 (kubernetes/kubernetes @ v1.34.4 : pkg/registry).
GENERATION_BUILTINS = frozenset({
    ("", "pods"), ("", "podtemplates"), ("", "replicationcontrollers"),
    ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("apps", "replicasets"),
    ("batch", "jobs"), ("batch", "cronjobs"),
    ("networking.k8s.io", "ingresses"), ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "networkpolicies"), ("policy", "poddisruptionbudgets"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("discovery.k8s.io", "endpointslices"), ("scheduling.k8s.io", "priorityclasses"),
})


def _t(group: str, kind: str, plural: str, namespaced: bool = True, short: Iterable[str] = (),
       status: bool = False, version: str = "v1", categories: Iterable[str] = ()) -> ResourceType:
    return ResourceType(group, (version,), kind, plural, namespaced, tuple(short), status, tuple(categories))


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _t("", "Namespace", "namespaces", False, ["ns"], True),
    _t("", "Secret", "secrets"),
    _t("", "ConfigMap", "configmaps", short=["cm"]),
    _t("", "Service", "services", short=["svc"], status=True, categories=["all"]),
    _t("", "ServiceAccount", "serviceaccounts", short=["sa"]),
    _t("", "Pod", "pods", short=["po"], status=True, categories=["all"]),
    _t("", "Event", "events", short=["ev"]),
    _t("", "Endpoints", "endpoints", short=["ep"]),
    _t("", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"], status=True),
    _t("", "Node", "nodes", False, ["no"], True),
    _t("apps", "Deployment", "deployments", short=["deploy"], status=True, categories=["all"]),
    _t("apps", "StatefulSet", "statefulsets", short=["sts"], status=True, categories=["all"]),
    _t("apps", "DaemonSet", "daemonsets", short=["ds"], status=True, categories=["all"]),
    _t("apps", "ReplicaSet", "replicasets", short=["rs"], status=True, categories=["all"]),
    _t("batch", "Job", "jobs", status=True, categories=["all"]),
    _t("batch", "CronJob", "cronjobs", short=["cj"], status=True, categories=["all"]),
    _t("rbac.authorization.k8s.io", "Role", "roles"),
    _t("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
    _t("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", False),
    _t("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", False),
    _t("networking.k8s.io", "Ingress", "ingresses", short=["ing"], status=True),
    _t("networking.k8s.io", "IngressClass", "ingressclasses", False),
    _t("networking.k8s.io", "NetworkPolicy", "networkpolicies", short=["netpol"]),
    _t("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", False,
       ["crd", "crds"], True),
    _t("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
       False),
    _t("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
    _t("coordination.k8s.io", "Lease", "leases"),
    _t("policy", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"], status=True),
    _t("storage.k8s.io", "StorageClass", "storageclasses", False, ["sc"]),
)


def crd_to_type(crd: dict[str, Any]) -> ResourceType:
    """The resource type a CustomResourceDefinition object declares (served versions only)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served", True)]
    # The storage version first, so it is the preferred version in discovery.
    served.sort(key=lambda v: not v.get("storage", False))
    schemas = {v["name"]: ((v.get("schema") or {}).get("openAPIV3Schema") or {}) for v in served}
    has_status = any("status" in (v.get("subresources") or {}) for v in served)
    return ResourceType(
        group=spec["group"], versions=tuple(v["name"] for v in served), kind=names["kind"],
        plural=names["plural"], namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()), status=has_status,
        categories=tuple(names.get("categories") or ()), schemas=schemas, crd=True,
    )


class Registry:
    """Thread-safe lookup of resource types by (group, version, plural) and by (apiVersion, kind)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._builtin = {t.key: t for t in BUILTIN_TYPES}
        self._crds: dict[tuple[str, str], ResourceType] = {}

    def add_crd(self, rtype: ResourceType) -> None:
        with self._lock:
            self._crds[rtype.key] = rtype

    def remove_crd(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._crds.pop(key, None)

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._builtin.values()) + list(self._crds.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            rtype = self._crds.get((group, plural)) or self._builtin.get((group, plural))
        return rtype if rtype and version in rtype.versions else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, separator, version = api_version.rpartition("/")
        for rtype in self.all():
            if rtype.group == group and rtype.kind == kind and version in rtype.versions:
                return rtype
        return None

    # Discovery documents.
    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first, in a stable order."""
        out: dict[str, list[str]] = {}
        for rtype in self.all():
            versions = out.setdefault(rtype.group, [])
            for v in rtype.versions:
                if v not in versions:
                    versions.append(v)
        return out

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.group_versions().get(group)
        if not group or not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
                "preferredVersion": entries[0]}

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(g) for g in self.group_versions() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        resources = [r for t in self.all() if t.group == group and version in t.versions
                     for r in t.api_resources()]
        if not resources:
            return None
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
