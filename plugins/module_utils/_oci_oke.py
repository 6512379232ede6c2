# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OKE cluster, node pool and kubeconfig logic behind the oci_oke_* modules.

Clusters and node pools are found by name + the managed-by freeform tag inside the compartment
(node pools also by cluster). Creates, updates and deletes wait on the Container Engine work
request the call returns. Check mode compares with the live resource and writes nothing.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from typing import Any, Callable

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, InvalidInput
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import (
    MANAGED_TAG,
    call,
    delete,
    list_all,
    tags_differ,
    to_dict,
    wait_for_state,
    wait_for_work_request,
)

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR: Exception | None = None
except ImportError as e:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_YAML = False
    YAML_IMPORT_ERROR = e

try:
    from oci.container_engine import models as ce_models
except ImportError:  # pragma: no cover - the module reports the missing SDK
    ce_models = None

__all__ = [
    "HAS_YAML",
    "YAML_IMPORT_ERROR",
    "find_cluster",
    "reconcile_cluster",
    "find_node_pool",
    "reconcile_node_pool",
    "pick_image",
    "render_kubeconfig",
    "reconcile_kubeconfig",
]

GONE = ("DELETED", "DELETING")
_CLUSTER_IN_USE = ("Another work request on the cluster (an upgrade, a node pool change) is still running; wait until "
                   "it ends ('oci ce work-request list --cluster-id <id>'), then run again.")
_POOL_IN_USE = ("Another work request on the node pool (a scale or an upgrade) is still running; wait until it ends "
                "('oci ce work-request list --resource-id <id>'), then run again.")
CNI_FLANNEL = "FLANNEL_OVERLAY"
CNI_NATIVE = "OCI_VCN_IP_NATIVE"


def _version_tuple(v: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v or ""))


def _managed(items: list[Any], name: str, what: str, *, gone: tuple[str, ...] = GONE) -> Any:
    live = [x for x in items if x.name == name and x.lifecycle_state not in gone]
    mine = [x for x in live if not tags_differ(MANAGED_TAG, x.freeform_tags)]
    if live and not mine:
        raise InvalidInput(f"{what} {name!r} ({live[0].id}) exists but lacks the freeform tag {MANAGED_TAG}; "
                           "add the tag to adopt it, or choose another 'name'.")
    if len(mine) > 1:
        raise InvalidInput(f"{len(mine)} {what}s are named {name!r} with the managed-by tag; delete the extra ones.")
    return mine[0] if mine else None


def _work_request_id(resp: Any) -> str | None:
    return resp.headers.get("opc-work-request-id") if resp.headers else None


def _wait(ce: Any, resp: Any, params: dict[str, Any], progress: list[dict[str, Any]]) -> Any:
    wr_id = _work_request_id(resp)
    if not params.get("wait", True) or not wr_id:
        return None
    return wait_for_work_request(ce, wr_id, timeout=params.get("wait_timeout", 1800), progress=progress,
                                 errors_fn=ce.list_work_request_errors)


def _created_id(wr: Any, entity_type: str) -> str | None:
    for res in (wr.resources or []) if wr is not None else []:
        if (res.entity_type or "").lower() == entity_type and res.action_type in ("CREATED", "IN_PROGRESS"):
            return res.identifier
    return None


# --- cluster -----------------------------------------------------------------------------------------
def find_cluster(ce: Any, compartment_id: str, name: str, *, gone: tuple[str, ...] = GONE) -> Any:
    """The managed cluster named `name`, or None; clusters in a `gone` lifecycle state count as missing."""
    summary = _managed(list_all(ce.list_clusters, compartment_id, name=name), name, "cluster", gone=gone)
    return call(ce.get_cluster, summary.id).data if summary else None


def _delete(ce: Any, live: Any, p: dict[str, Any], progress: list[dict[str, Any]], *, what: str,
            check_mode: bool) -> bool:
    """Delete a cluster or node pool and wait for its work request; returns changed.

    One already DELETING (a run that timed out) is waited for until DELETED and counts as no change.
    """
    noun = "cluster" if what == "cluster" else "node_pool"
    if live.lifecycle_state == "DELETING":
        if not check_mode and p.get("wait", True):
            wait_for_state(getattr(ce, f"get_{noun}"), live.id, ("DELETED",),
                           timeout=p.get("wait_timeout", 1800), progress=progress, gone_ok=True)
        return False
    if not check_mode:
        resp = delete(getattr(ce, f"delete_{noun}"), live.id, what=f"{what} {live.name!r}",
                      in_use=_CLUSTER_IN_USE if what == "cluster" else _POOL_IN_USE)
        _wait(ce, resp, p, progress)
    return True


def _cluster_view(c: Any) -> dict[str, Any]:
    cni = [o.cni_type for o in (c.cluster_pod_network_options or [])]
    net = c.options.kubernetes_network_config if c.options else None
    return {
        "id": c.id, "name": c.name, "kubernetes_version": c.kubernetes_version, "cluster_type": c.type,
        "cni_type": cni[0] if cni else CNI_FLANNEL, "vcn_id": c.vcn_id,
        "endpoint_subnet_id": c.endpoint_config.subnet_id if c.endpoint_config else None,
        "endpoint_public": bool(c.endpoint_config.is_public_ip_enabled) if c.endpoint_config else False,
        "service_lb_subnet_ids": list(c.options.service_lb_subnet_ids or []) if c.options else [],
        "pods_cidr": net.pods_cidr if net else None, "services_cidr": net.services_cidr if net else None,
        "freeform_tags": dict(c.freeform_tags or {}), "lifecycle_state": c.lifecycle_state,
        "endpoints": to_dict(c.endpoints) if c.endpoints else {},
    }


def _cluster_want(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": p["name"], "kubernetes_version": p["kubernetes_version"], "cluster_type": p["cluster_type"],
        "cni_type": p["cni_type"], "vcn_id": p["vcn_id"], "endpoint_subnet_id": p["endpoint_subnet_id"],
        "endpoint_public": p["endpoint_public"], "service_lb_subnet_ids": list(p.get("service_lb_subnet_ids") or []),
        "pods_cidr": p["pods_cidr"], "services_cidr": p["services_cidr"],
        "freeform_tags": {**(p.get("freeform_tags") or {}), **MANAGED_TAG},
    }


def _create_cluster_details(p: dict[str, Any]) -> Any:
    m = ce_models
    pod_net = (m.OciVcnIpNativeClusterPodNetworkOptionDetails() if p["cni_type"] == CNI_NATIVE
               else m.FlannelOverlayClusterPodNetworkOptionDetails())
    return m.CreateClusterDetails(
        name=p["name"], compartment_id=p["compartment_id"], vcn_id=p["vcn_id"],
        kubernetes_version=p["kubernetes_version"], type=p["cluster_type"],
        endpoint_config=m.CreateClusterEndpointConfigDetails(subnet_id=p["endpoint_subnet_id"],
                                                             is_public_ip_enabled=p["endpoint_public"]),
        options=m.ClusterCreateOptions(
            service_lb_subnet_ids=list(p.get("service_lb_subnet_ids") or []),
            kubernetes_network_config=m.KubernetesNetworkConfig(pods_cidr=p["pods_cidr"],
                                                                services_cidr=p["services_cidr"])),
        cluster_pod_network_options=[pod_net],
        freeform_tags={**(p.get("freeform_tags") or {}), **MANAGED_TAG},
    )


def _cluster_changes(want: dict[str, Any], have: dict[str, Any], live: Any) -> dict[str, Any]:
    """What to update; raises InvalidInput for what OKE cannot change in place."""
    fixed = ("vcn_id", "cni_type", "endpoint_subnet_id", "pods_cidr", "services_cidr")
    for key in fixed:
        if want[key] != have[key]:
            raise InvalidInput(f"Cluster {want['name']!r} has {key}={have[key]!r} but {want[key]!r} is wanted; OKE "
                               f"cannot change {key} of an existing cluster. Keep {have[key]!r} or delete the cluster "
                               "(state=absent) and create it again.")
    if sorted(want["service_lb_subnet_ids"]) != sorted(have["service_lb_subnet_ids"]) and want["service_lb_subnet_ids"]:
        raise InvalidInput(f"Cluster {want['name']!r} uses load balancer subnets {have['service_lb_subnet_ids']}; OKE "
                           "cannot change them in place. Keep them or recreate the cluster.")
    changes: dict[str, Any] = {}
    if want["kubernetes_version"] != have["kubernetes_version"]:
        if _version_tuple(want["kubernetes_version"]) < _version_tuple(have["kubernetes_version"]):
            raise InvalidInput(f"Cluster {want['name']!r} runs {have['kubernetes_version']}; OKE cannot downgrade to "
                               f"{want['kubernetes_version']}. Set kubernetes_version to {have['kubernetes_version']} "
                               "or newer.")
        allowed = list(live.available_kubernetes_upgrades or [])
        if allowed and want["kubernetes_version"] not in allowed:
            raise InvalidInput(f"Cluster {want['name']!r} can upgrade from {have['kubernetes_version']} only to "
                               f"{', '.join(allowed)}; upgrade one minor version at a time.")
        changes["kubernetes_version"] = want["kubernetes_version"]
    if want["cluster_type"] != have["cluster_type"]:
        if want["cluster_type"] == "BASIC_CLUSTER":
            raise InvalidInput(f"Cluster {want['name']!r} is ENHANCED_CLUSTER; OKE cannot turn it back into "
                               "BASIC_CLUSTER. Set cluster_type to ENHANCED_CLUSTER.")
        changes["type"] = want["cluster_type"]
    if tags_differ(want["freeform_tags"], have["freeform_tags"]):
        changes["freeform_tags"] = {**have["freeform_tags"], **want["freeform_tags"]}
    if want["endpoint_public"] != have["endpoint_public"]:
        changes["endpoint_public"] = want["endpoint_public"]
    return changes


def reconcile_cluster(ce: Any, p: dict[str, Any], *, check_mode: bool) -> dict[str, Any]:
    progress: list[dict[str, Any]] = []
    if p.get("state", "present") == "absent":
        live = find_cluster(ce, p["compartment_id"], p["name"], gone=("DELETED",))
        if live is None:
            return {"changed": False, "cluster": None, "progress": progress, "diff": {"before": None, "after": None}}
        changed = _delete(ce, live, p, progress, what="cluster", check_mode=check_mode)
        return {"changed": changed, "cluster": None, "progress": progress,
                "diff": {"before": _cluster_view(live) if changed else None, "after": None}}
    live = find_cluster(ce, p["compartment_id"], p["name"])
    before = _cluster_view(live) if live else None
    want = _cluster_want(p)
    if live is None:
        if check_mode:
            return {"changed": True, "cluster": None, "progress": progress,
                    "diff": {"before": None, "after": want}}
        resp = call(ce.create_cluster, _create_cluster_details(p))
        wr = _wait(ce, resp, p, progress)
        cluster_id = _created_id(wr, "cluster")
        live = call(ce.get_cluster, cluster_id).data if cluster_id else find_cluster(ce, p["compartment_id"], p["name"])
        return {"changed": True, "cluster": _cluster_view(live) if live else None, "progress": progress,
                "diff": {"before": None, "after": _cluster_view(live) if live else want}}
    changes = _cluster_changes(want, before, live)
    if not changes:
        return {"changed": False, "cluster": before, "progress": progress, "diff": {"before": before, "after": before}}
    after = {**before, **{("cluster_type" if k == "type" else k): v for k, v in changes.items()}}
    if check_mode:
        return {"changed": True, "cluster": before, "progress": progress, "diff": {"before": before, "after": after}}
    public = changes.pop("endpoint_public", None)
    if changes:
        _wait(ce, call(ce.update_cluster, live.id, ce_models.UpdateClusterDetails(**changes)), p, progress)
    if public is not None:
        details = ce_models.UpdateClusterEndpointConfigDetails(is_public_ip_enabled=public)
        _wait(ce, call(ce.update_cluster_endpoint_config, live.id, details), p, progress)
    live = call(ce.get_cluster, live.id).data
    view = _cluster_view(live)
    return {"changed": True, "cluster": view, "progress": progress, "diff": {"before": before, "after": view}}


# --- node pool ---------------------------------------------------------------------------------------
def find_node_pool(ce: Any, compartment_id: str, cluster_id: str, name: str, *,
                   gone: tuple[str, ...] = GONE) -> Any:
    items = list_all(ce.list_node_pools, compartment_id, cluster_id=cluster_id, name=name)
    summary = _managed(items, name, "node pool", gone=gone)
    return call(ce.get_node_pool, summary.id).data if summary else None


def _is_arm(shape: str) -> bool:
    return bool(re.search(r"\.A\d", shape))


def pick_image(sources: list[Any], *, kubernetes_version: str, shape: str) -> str:
    """The newest OKE image for the version and the shape's architecture (GPU images excluded)."""
    version = kubernetes_version.lstrip("v")
    candidates = []
    for src in sources:
        name = getattr(src, "source_name", "") or ""
        if f"OKE-{version}-" not in name or "GPU" in name:
            continue
        if _is_arm(shape) != ("aarch64" in name):
            continue
        candidates.append(src)
    if not candidates:
        raise InvalidInput(f"No OKE node image for Kubernetes {kubernetes_version} on {shape}; set image_id to an "
                           "image OCID from 'oci ce node-pool-options get --node-pool-option-id <cluster>'.")
    return max(candidates, key=lambda s: s.source_name).image_id


def _pool_view(np: Any) -> dict[str, Any]:
    cfg = np.node_config_details
    shape_cfg = np.node_shape_config
    return {
        "id": np.id, "name": np.name, "cluster_id": np.cluster_id, "kubernetes_version": np.kubernetes_version,
        "node_shape": np.node_shape,
        "ocpus": shape_cfg.ocpus if shape_cfg else None,
        "memory_in_gbs": shape_cfg.memory_in_gbs if shape_cfg else None,
        "image_id": getattr(np.node_source_details, "image_id", None) if np.node_source_details else None,
        "size": cfg.size if cfg else None,
        "placement": sorted((pc.availability_domain, pc.subnet_id) for pc in (cfg.placement_configs or []))
        if cfg else [],
        "freeform_tags": dict(np.freeform_tags or {}), "lifecycle_state": np.lifecycle_state,
        "nodes": [{"id": n.id, "name": n.name, "state": n.lifecycle_state, "availability_domain": n.availability_domain}
                  for n in (np.nodes or [])],
    }


def _pool_want(p: dict[str, Any], *, version: str, image_id: str, ads: list[str]) -> dict[str, Any]:
    flex = ".Flex" in p["node_shape"]
    return {
        "name": p["name"], "cluster_id": p["cluster_id"], "kubernetes_version": version,
        "node_shape": p["node_shape"],
        "ocpus": float(p["ocpus"]) if flex and p.get("ocpus") is not None else None,
        "memory_in_gbs": float(p["memory_in_gbs"]) if flex and p.get("memory_in_gbs") is not None else None,
        "image_id": image_id, "size": p["size"],
        "placement": sorted((ad, p["subnet_id"]) for ad in ads),
        "freeform_tags": {**(p.get("freeform_tags") or {}), **MANAGED_TAG},
    }


def _placements(want: dict[str, Any]) -> list[Any]:
    return [ce_models.NodePoolPlacementConfigDetails(availability_domain=ad, subnet_id=subnet)
            for ad, subnet in want["placement"]]


def _pod_network(p: dict[str, Any], cni: str) -> Any:
    if cni != CNI_NATIVE:
        return ce_models.FlannelOverlayNodePoolPodNetworkOptionDetails()
    return ce_models.OciVcnIpNativeNodePoolPodNetworkOptionDetails(
        pod_subnet_ids=list(p.get("pod_subnet_ids") or [p["subnet_id"]]),
        max_pods_per_node=p.get("max_pods_per_node"))


def _shape_config(want: dict[str, Any], cls: Any) -> Any:
    if want["ocpus"] is None and want["memory_in_gbs"] is None:
        return None
    return cls(ocpus=want["ocpus"], memory_in_gbs=want["memory_in_gbs"])


def _source(want: dict[str, Any], p: dict[str, Any]) -> Any:
    return ce_models.NodeSourceViaImageDetails(image_id=want["image_id"],
                                               boot_volume_size_in_gbs=p.get("boot_volume_size_in_gbs"))


def _create_pool_details(p: dict[str, Any], want: dict[str, Any], cni: str) -> Any:
    m = ce_models
    labels = [m.KeyValue(key=k, value=str(v)) for k, v in sorted((p.get("initial_node_labels") or {}).items())]
    return m.CreateNodePoolDetails(
        compartment_id=p["compartment_id"], cluster_id=p["cluster_id"], name=p["name"],
        kubernetes_version=want["kubernetes_version"], node_shape=want["node_shape"],
        node_shape_config=_shape_config(want, m.CreateNodeShapeConfigDetails),
        node_source_details=_source(want, p), initial_node_labels=labels or None,
        ssh_public_key=p.get("ssh_public_key"),
        node_config_details=m.CreateNodePoolNodeConfigDetails(
            size=want["size"], placement_configs=_placements(want),
            node_pool_pod_network_option_details=_pod_network(p, cni)),
        freeform_tags=want["freeform_tags"],
    )


def _pool_changes(want: dict[str, Any], have: dict[str, Any], *, image_pinned: bool) -> dict[str, Any]:
    keys = ["kubernetes_version", "node_shape", "ocpus", "memory_in_gbs", "size", "placement"]
    if image_pinned:
        keys.append("image_id")
    changes = {k: want[k] for k in keys if want[k] is not None and want[k] != have[k]}
    if tags_differ(want["freeform_tags"], have["freeform_tags"]):
        changes["freeform_tags"] = {**have["freeform_tags"], **want["freeform_tags"]}
    return changes


def _update_pool_details(changes: dict[str, Any], want: dict[str, Any], p: dict[str, Any]) -> Any:
    m = ce_models
    kwargs: dict[str, Any] = {}
    for key in ("kubernetes_version", "node_shape", "freeform_tags"):
        if key in changes:
            kwargs[key] = changes[key]
    if {"ocpus", "memory_in_gbs", "node_shape"} & changes.keys():
        kwargs["node_shape_config"] = _shape_config(want, m.UpdateNodeShapeConfigDetails)
    if "image_id" in changes:
        kwargs["node_source_details"] = _source(want, p)
    if {"size", "placement"} & changes.keys():
        kwargs["node_config_details"] = m.UpdateNodePoolNodeConfigDetails(
            size=want["size"], placement_configs=_placements(want) if "placement" in changes else None)
    return m.UpdateNodePoolDetails(**kwargs)


def _pool_cluster(ce: Any, p: dict[str, Any], *, absent: bool) -> Any:
    """The node pool's cluster: by OCID, or by name. None only when absent and no such cluster exists."""
    if p.get("cluster_id"):
        try:
            cluster = call(ce.get_cluster, p["cluster_id"]).data
        except ApiError as e:
            if absent and e.status == 404:
                return None
            raise
        return None if absent and cluster.lifecycle_state in GONE else cluster
    cluster = find_cluster(ce, p["compartment_id"], p["cluster_name"])
    if cluster is None and not absent:
        raise InvalidInput(f"No cluster named {p['cluster_name']!r} with the tag {MANAGED_TAG} in compartment "
                           f"{p['compartment_id']}; create it first (multicluster.gitops.oci_oke_cluster) or set "
                           "cluster_id.")
    return cluster


def reconcile_node_pool(ce: Any, p: dict[str, Any], *, check_mode: bool,
                        availability_domains: Callable[[], list[str]]) -> dict[str, Any]:
    """Bring the node pool to `p['state']`. `availability_domains()` is asked only when none are given.

    The cluster is `p['cluster_id']`, or the managed cluster named `p['cluster_name']` in the compartment.
    """
    progress: list[dict[str, Any]] = []
    absent = p.get("state", "present") == "absent"
    cluster = _pool_cluster(ce, p, absent=absent)
    if cluster is None:  # absent, and the cluster (with its node pools) is gone already
        return {"changed": False, "node_pool": None, "progress": progress, "diff": {"before": None, "after": None}}
    p = {**p, "cluster_id": cluster.id}
    if absent:
        live = find_node_pool(ce, p["compartment_id"], cluster.id, p["name"], gone=("DELETED",))
        changed = live is not None and _delete(ce, live, p, progress, what="node pool", check_mode=check_mode)
        return {"changed": changed, "node_pool": None, "progress": progress,
                "diff": {"before": _pool_view(live) if changed else None, "after": None}}
    live = find_node_pool(ce, p["compartment_id"], p["cluster_id"], p["name"])
    before = _pool_view(live) if live else None
    version = p.get("kubernetes_version") or cluster.kubernetes_version
    cni = ([o.cni_type for o in (cluster.cluster_pod_network_options or [])] or [CNI_FLANNEL])[0]
    ads = list(p.get("availability_domains") or availability_domains())
    if not ads:
        raise InvalidInput("No availability domains found; set availability_domains.")
    image_id = p.get("image_id")
    if not image_id:
        image_id = (before or {}).get("image_id") if live is not None and version == before["kubernetes_version"] \
            else None
    if not image_id:
        sources = call(ce.get_node_pool_options, p["cluster_id"]).data.sources or []
        image_id = pick_image(sources, kubernetes_version=version, shape=p["node_shape"])
    want = _pool_want(p, version=version, image_id=image_id, ads=ads)
    if live is None:
        if check_mode:
            return {"changed": True, "node_pool": None, "progress": progress, "diff": {"before": None, "after": want}}
        wr = _wait(ce, call(ce.create_node_pool, _create_pool_details(p, want, cni)), p, progress)
        pool_id = _created_id(wr, "nodepool")
        live = (call(ce.get_node_pool, pool_id).data if pool_id
                else find_node_pool(ce, p["compartment_id"], p["cluster_id"], p["name"]))
        view = _pool_view(live) if live else None
        return {"changed": True, "node_pool": view, "progress": progress, "diff": {"before": None, "after": view or want}}
    changes = _pool_changes(want, before, image_pinned=bool(p.get("image_id")) or version != before["kubernetes_version"])
    if not changes:
        return {"changed": False, "node_pool": before, "progress": progress, "diff": {"before": before, "after": before}}
    after = {**before, **changes}
    if check_mode:
        return {"changed": True, "node_pool": before, "progress": progress, "diff": {"before": before, "after": after}}
    _wait(ce, call(ce.update_node_pool, live.id, _update_pool_details(changes, want, p)), p, progress)
    view = _pool_view(call(ce.get_node_pool, live.id).data)
    return {"changed": True, "node_pool": view, "progress": progress, "diff": {"before": before, "after": view}}


# --- kubeconfig --------------------------------------------------------------------------------------
def _exec_auth_args(p: dict[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    """Extra arguments and environment so the token generator authenticates like the module did."""
    args: list[str] = []
    env: list[dict[str, str]] = []
    if p.get("auth_type") and p["auth_type"] != "api_key":
        args += ["--auth", p["auth_type"]]
        return args, env
    if p.get("config_file_location"):
        args += ["--config-file", p["config_file_location"]]
    if p.get("config_profile_name"):
        args += ["--profile", p["config_profile_name"]]
    for option, var in (("api_user", "OCI_CLI_USER"), ("api_user_fingerprint", "OCI_CLI_FINGERPRINT"),
                        ("tenancy", "OCI_CLI_TENANCY"), ("api_user_key_file", "OCI_CLI_KEY_FILE")):
        if p.get(option):
            env.append({"name": var, "value": str(p[option])})
    return args, env


def token_command(p: dict[str, Any], *, script_path: str, which: Callable[[str], str | None] = shutil.which,
                  python: str = sys.executable) -> tuple[str, list[str], str]:
    """(command, leading args, generator used) for the kubeconfig's exec plugin."""
    choice = p.get("token_generator") or "auto"
    cli = which("oci")
    if choice == "oci_cli" and not cli:
        raise InvalidInput("token_generator is oci_cli but the 'oci' command is not on PATH; install the oci-cli "
                           "package (pip install oci-cli) or set token_generator to collection.")
    if choice == "oci_cli" or (choice == "auto" and cli):
        return cli, [], "oci_cli"
    return python, [script_path], "collection"


def render_kubeconfig(raw: str, p: dict[str, Any], *, command: str, lead_args: list[str]) -> dict[str, Any]:
    """The kubeconfig returned by OKE, with its exec plugin pointed at a command that exists here."""
    try:
        cfg = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise InvalidInput(f"OKE returned a kubeconfig that is not YAML: {e}") from e
    extra_args, env = _exec_auth_args(p)
    for user in cfg.get("users") or []:
        exec_cfg = (user.get("user") or {}).get("exec")
        if not exec_cfg:
            continue
        args = list(exec_cfg.get("args") or [])
        exec_cfg["command"] = command
        exec_cfg["args"] = lead_args + args + [a for a in extra_args if a not in args]
        if env:
            exec_cfg["env"] = env
        elif "env" in exec_cfg and not exec_cfg["env"]:
            exec_cfg.pop("env")
        exec_cfg.setdefault("interactiveMode", "Never")
    if p.get("context_name"):
        old = cfg.get("current-context")
        for ctx in cfg.get("contexts") or []:
            if ctx.get("name") == old:
                ctx["name"] = p["context_name"]
        cfg["current-context"] = p["context_name"]
    return cfg


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_if_changed(path: str, content: bytes, *, mode: int, check_mode: bool) -> bool:
    """Write `content` atomically with `mode` unless the file already holds it. Returns changed."""
    current = _read(path)
    same_mode = current is not None and (os.stat(path).st_mode & 0o777) == mode
    if current == content and same_mode:
        return False
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def _redacted(cfg: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cfg:
        return None
    out = yaml.safe_load(yaml.safe_dump(cfg))
    for cluster in out.get("clusters") or []:
        if "certificate-authority-data" in (cluster.get("cluster") or {}):
            cluster["cluster"]["certificate-authority-data"] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    return out


def reconcile_kubeconfig(ce: Any, p: dict[str, Any], *, check_mode: bool, script_source: bytes,
                         which: Callable[[str], str | None] = shutil.which,
                         python: str = sys.executable) -> dict[str, Any]:
    """Write the cluster's kubeconfig to p['dest'] (and the token script when the collection's is used)."""
    dest = os.path.expanduser(p["dest"])
    if p.get("state", "present") == "absent":
        existed = os.path.exists(dest)
        if existed and not check_mode:
            os.unlink(dest)
        return {"changed": existed, "dest": dest, "diff": {"before": {"path": dest} if existed else None,
                                                           "after": None}}
    script_path = os.path.expanduser(p.get("token_script") or os.path.join(os.path.dirname(dest), "oke-token.py"))
    command, lead_args, generator = token_command(p, script_path=script_path, which=which, python=python)
    details = ce_models.CreateClusterKubeconfigContentDetails(token_version="2.0.0", endpoint=p["endpoint"])
    data = call(ce.create_kubeconfig, p["cluster_id"], create_cluster_kubeconfig_content_details=details).data
    raw = data.content if hasattr(data, "content") else data.read()
    raw = raw.decode() if isinstance(raw, bytes) else raw
    cfg = render_kubeconfig(raw, p, command=command, lead_args=lead_args)
    content = yaml.safe_dump(cfg, default_flow_style=False, sort_keys=False).encode()
    old = _read(dest)
    changed = write_if_changed(dest, content, mode=0o600, check_mode=check_mode)
    if generator == "collection":
        changed = write_if_changed(script_path, script_source, mode=0o755, check_mode=check_mode) or changed
    server = ((cfg.get("clusters") or [{}])[0].get("cluster") or {}).get("server")
    warnings = []
    if p.get("api_user_key_content") and not p.get("api_user_key_file") and generator:
        warnings.append("The kubeconfig's token command cannot read api_user_key_content; give it a key file "
                        "(api_user_key_file) or a config profile so kubectl and later plays can authenticate.")
    before = _redacted(yaml.safe_load(old)) if old else None
    return {"changed": changed, "dest": dest, "server": server, "context": cfg.get("current-context"),
            "token_generator": generator, "token_command": [command, *lead_args],
            "warnings": warnings, "diff": {"before": before, "after": _redacted(cfg)}}
