# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OKE network as one unit: VCN, gateways, route tables, security lists and three subnets.

:func:`network_plan` turns the module options into an ordered list of :class:`Want` (pure, no
API calls); :func:`reconcile_network` finds each resource by display name + the managed-by tag
inside the compartment (and VCN), creates what is missing, updates what drifted and, with
``state: absent``, deletes in reverse order. Check mode reads only.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import InvalidInput
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import (
    MANAGED_TAG,
    call,
    delete,
    list_all,
    subset_equal,
    tags_differ,
    to_dict,
    wait_for_state,
)

try:
    from oci.core import models as core_models
except ImportError:  # pragma: no cover - the module reports the missing SDK
    core_models = None

__all__ = ["Kind", "KINDS", "Ref", "Want", "network_plan", "reconcile_network", "dns_label_from"]

GONE_STATES = ("TERMINATED", "TERMINATING")
#: What usually keeps a network resource from being deleted (a 409), and what to do about it.
IN_USE = {
    "subnet": "Something outside this network still has VNICs in the subnet: load balancers of Kubernetes Services "
              "of type LoadBalancer (deleting the cluster does not delete them), instances or another cluster's "
              "nodes. Delete the LoadBalancer Services before the cluster (or the load balancers under Networking > "
              "Load balancers), then run again.",
    "security_list": "A subnet this role did not create still uses the security list; detach it, then run again.",
    "route_table": "A subnet this role did not create still uses the route table; detach it, then run again.",
    "internet_gateway": "A route table this role did not create still routes to the gateway; remove that rule, "
                        "then run again.",
    "nat_gateway": "A route table this role did not create still routes to the gateway; remove that rule, "
                   "then run again.",
    "service_gateway": "A route table this role did not create still routes to the gateway; remove that rule, "
                       "then run again.",
    "vcn": "The VCN still holds resources this role did not create (subnets, gateways, DRG attachments, local "
           "peering gateways); delete them, then run again.",
}
UNKNOWN_ID = "(known after creation)"
ALL_SERVICES_SUFFIX = "services-in-oracle-services-network"


@dataclass(frozen=True)
class Kind:
    """How one kind of VirtualNetworkClient resource is listed, read, created, updated and deleted."""

    name: str
    noun: str  # suffix of the SDK operation names: create_<noun>, get_<noun>, ...
    create_cls: str
    update_cls: str
    updatable: tuple[str, ...]
    immutable: tuple[str, ...] = ()
    in_vcn: bool = True

    @property
    def list_op(self) -> str:
        return f"list_{self.noun}s"


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("vcn", "vcn", "CreateVcnDetails", "UpdateVcnDetails", ("freeform_tags",),
         immutable=("cidr_blocks", "dns_label"), in_vcn=False),
    Kind("internet_gateway", "internet_gateway", "CreateInternetGatewayDetails", "UpdateInternetGatewayDetails",
         ("is_enabled", "freeform_tags")),
    Kind("nat_gateway", "nat_gateway", "CreateNatGatewayDetails", "UpdateNatGatewayDetails",
         ("block_traffic", "freeform_tags")),
    Kind("service_gateway", "service_gateway", "CreateServiceGatewayDetails", "UpdateServiceGatewayDetails",
         ("services", "freeform_tags")),
    Kind("route_table", "route_table", "CreateRouteTableDetails", "UpdateRouteTableDetails",
         ("route_rules", "freeform_tags")),
    Kind("security_list", "security_list", "CreateSecurityListDetails", "UpdateSecurityListDetails",
         ("ingress_security_rules", "egress_security_rules", "freeform_tags")),
    Kind("subnet", "subnet", "CreateSubnetDetails", "UpdateSubnetDetails",
         ("route_table_id", "security_list_ids", "freeform_tags"),
         immutable=("cidr_block", "dns_label", "prohibit_public_ip_on_vnic")),
)}


@dataclass(frozen=True)
class Ref:
    """The id of another wanted resource, known once that one exists."""

    key: str


@dataclass
class Want:
    key: str  # stable name inside the plan (e.g. "subnet_workers")
    kind: str
    display_name: str
    fields: dict[str, Any] = field(default_factory=dict)


# --- plan (pure) -------------------------------------------------------------------------------------
def dns_label_from(name: str, suffix: str = "") -> str:
    """A DNS label OCI accepts: letters and digits, starting with a letter, at most 15 characters."""
    label = re.sub(r"[^a-z0-9]", "", name.lower())
    label = re.sub(r"^[0-9]+", "", label) or "oke"
    return (label[: 15 - len(suffix)] + suffix)[:15]


def _check_cidrs(p: dict[str, Any]) -> None:
    try:
        vcn = ipaddress.ip_network(p["cidr_block"])
        subnets = {k: ipaddress.ip_network(p[k]) for k in
                   ("api_subnet_cidr", "workers_subnet_cidr", "lb_subnet_cidr")}
        for cidr in p.get("api_allowed_cidrs") or []:
            ipaddress.ip_network(cidr)
    except ValueError as e:
        raise InvalidInput(f"Invalid CIDR: {e}; use the network address, e.g. 10.0.0.0/16") from e
    for opt, net in subnets.items():
        if not net.subnet_of(vcn):
            raise InvalidInput(f"{opt} {net} is not inside cidr_block {vcn}; pick a range inside the VCN.")
    names = list(subnets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if subnets[a].overlaps(subnets[b]):
                raise InvalidInput(f"{a} {subnets[a]} overlaps {b} {subnets[b]}; subnets must not overlap.")


def _tcp(ports: tuple[int, int] | None) -> Any:
    if ports is None:
        return None
    return core_models.TcpOptions(destination_port_range=core_models.PortRange(min=ports[0], max=ports[1]))


_ICMP_PATH_DISCOVERY = {"type": 3, "code": 4}


def _ingress(source: str, protocol: str, ports: tuple[int, int] | None = None, *, description: str,
             icmp: dict[str, int] | None = None, source_type: str = "CIDR_BLOCK") -> Any:
    return core_models.IngressSecurityRule(
        source=source, source_type=source_type, protocol=protocol, is_stateless=False,
        tcp_options=_tcp(ports), icmp_options=core_models.IcmpOptions(**icmp) if icmp else None,
        description=description)


def _egress(dest: str, protocol: str, ports: tuple[int, int] | None = None, *, description: str,
            icmp: dict[str, int] | None = None, dest_type: str = "CIDR_BLOCK") -> Any:
    return core_models.EgressSecurityRule(
        destination=dest, destination_type=dest_type, protocol=protocol, is_stateless=False,
        tcp_options=_tcp(ports), icmp_options=core_models.IcmpOptions(**icmp) if icmp else None,
        description=description)


TCP, ICMP, ALL = "6", "1", "all"


def _security_rules(p: dict[str, Any], services_cidr: str) -> dict[str, tuple[list[Any], list[Any]]]:
    """(ingress, egress) per security list, after OKE's documented flannel / VCN-native rules."""
    api, workers, lbs = p["api_subnet_cidr"], p["workers_subnet_cidr"], p["lb_subnet_cidr"]
    svc = "SERVICE_CIDR_BLOCK"
    api_in = [_ingress(c, TCP, (6443, 6443), description="Kubernetes API from allowed clients")
              for c in (p.get("api_allowed_cidrs") or [])]
    api_in += [
        _ingress(workers, TCP, (6443, 6443), description="Kubernetes API from workers"),
        _ingress(workers, TCP, (12250, 12250), description="Control plane from workers"),
        _ingress(workers, ICMP, description="Path discovery", icmp=_ICMP_PATH_DISCOVERY),
    ]
    api_out = [
        _egress(services_cidr, TCP, (443, 443), description="OKE to Oracle services", dest_type=svc),
        _egress(workers, TCP, description="Control plane to workers"),
        _egress(workers, ICMP, description="Path discovery", icmp=_ICMP_PATH_DISCOVERY),
    ]
    workers_in = [
        _ingress(workers, ALL, description="Pod to pod and node to node"),
        _ingress(api, TCP, description="Control plane to workers"),
        _ingress("0.0.0.0/0", ICMP, description="Path discovery", icmp=_ICMP_PATH_DISCOVERY),
        _ingress(lbs, TCP, (30000, 32767), description="Load balancers to NodePorts"),
        _ingress(lbs, TCP, (10256, 10256), description="Load balancer health checks to kube-proxy"),
    ]
    workers_out = [
        _egress(workers, ALL, description="Pod to pod and node to node"),
        _egress(api, TCP, (6443, 6443), description="Workers to Kubernetes API"),
        _egress(api, TCP, (12250, 12250), description="Workers to control plane"),
        _egress("0.0.0.0/0", ICMP, description="Path discovery", icmp=_ICMP_PATH_DISCOVERY),
        _egress(services_cidr, TCP, description="Workers to Oracle services", dest_type=svc),
        _egress("0.0.0.0/0", ALL, description="Workers to the internet through the NAT gateway"),
    ]
    lb_sources = ["0.0.0.0/0"] if p.get("lb_public", True) else [p["cidr_block"]]
    lb_in = [_ingress(src, TCP, (port, port), description=f"Clients to load balancers on {port}")
             for src in lb_sources for port in (80, 443)]
    lb_out = [
        _egress(workers, TCP, (30000, 32767), description="Load balancers to NodePorts"),
        _egress(workers, TCP, (10256, 10256), description="Load balancer health checks to kube-proxy"),
    ]
    return {"api": (api_in, api_out), "workers": (workers_in, workers_out), "lb": (lb_in, lb_out)}


def network_plan(p: dict[str, Any], *, service_id: str, services_cidr: str) -> list[Want]:
    """The resources of the network, in creation order. `p` holds the oci_vcn options."""
    _check_cidrs(p)
    name = p["name"]
    tags = {**(p.get("freeform_tags") or {}), **MANAGED_TAG}
    comp = p["compartment_id"]
    vcn = Ref("vcn")

    def base(**extra: Any) -> dict[str, Any]:
        return {"compartment_id": comp, "vcn_id": vcn, "freeform_tags": tags, **extra}

    rules = _security_rules(p, services_cidr)
    plan = [
        Want("vcn", "vcn", f"{name}-vcn", {"compartment_id": comp, "cidr_blocks": [p["cidr_block"]],
                                           "dns_label": p.get("dns_label") or dns_label_from(name),
                                           "freeform_tags": tags}),
        Want("igw", "internet_gateway", f"{name}-igw", base(is_enabled=True)),
        Want("nat", "nat_gateway", f"{name}-nat", base(block_traffic=False)),
        Want("sgw", "service_gateway", f"{name}-sgw",
             base(services=[core_models.ServiceIdRequestDetails(service_id=service_id)])),
        Want("rt_public", "route_table", f"{name}-public-rt", base(route_rules=[
            core_models.RouteRule(destination="0.0.0.0/0", destination_type="CIDR_BLOCK",
                                  network_entity_id=Ref("igw"), description="Internet")])),
        Want("rt_private", "route_table", f"{name}-private-rt", base(route_rules=[
            core_models.RouteRule(destination="0.0.0.0/0", destination_type="CIDR_BLOCK",
                                  network_entity_id=Ref("nat"), description="Internet through NAT"),
            core_models.RouteRule(destination=services_cidr, destination_type="SERVICE_CIDR_BLOCK",
                                  network_entity_id=Ref("sgw"), description="Oracle services")])),
    ]
    for role in ("api", "workers", "lb"):
        ingress, egress = rules[role]
        plan.append(Want(f"sl_{role}", "security_list", f"{name}-{role}-sl",
                         base(ingress_security_rules=ingress, egress_security_rules=egress)))
    api_public = p.get("api_endpoint_public", True)
    lb_public = p.get("lb_public", True)
    subnets = (
        ("api", p["api_subnet_cidr"], api_public),
        ("workers", p["workers_subnet_cidr"], False),
        ("lb", p["lb_subnet_cidr"], lb_public),
    )
    for role, cidr, public in subnets:
        plan.append(Want(f"subnet_{role}", "subnet", f"{name}-{role}-subnet", base(
            cidr_block=cidr, dns_label=dns_label_from(role), prohibit_public_ip_on_vnic=not public,
            route_table_id=Ref("rt_public" if public else "rt_private"),
            security_list_ids=[Ref(f"sl_{role}")])))
    return plan


# --- reconcile ---------------------------------------------------------------------------------------
def _resolve(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return ids.get(value.key, UNKNOWN_ID)
    if isinstance(value, list):
        return [_resolve(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, ids) for k, v in value.items()}
    if core_models is not None and hasattr(value, "swagger_types"):
        clone = type(value)()
        for attr in value.swagger_types:
            setattr(clone, attr, _resolve(getattr(value, attr), ids))
        return clone
    return value


def _plain(value: Any) -> Any:
    return to_dict(value)


def find_managed(client: Any, kind: Kind, want: Want, *, compartment_id: str, vcn_id: str | None,
                 gone: tuple[str, ...] = GONE_STATES) -> Any:
    """The live resource named `want.display_name` carrying the managed-by tag, or None.

    Resources in a `gone` lifecycle state count as missing.
    """
    kwargs: dict[str, Any] = {"compartment_id": compartment_id}
    if kind.in_vcn:
        kwargs["vcn_id"] = vcn_id
    live = [r for r in list_all(getattr(client, kind.list_op), **kwargs)
            if r.display_name == want.display_name and r.lifecycle_state not in gone]
    mine = [r for r in live if not tags_differ(MANAGED_TAG, r.freeform_tags)]
    if not mine and live:
        raise InvalidInput(f"{kind.name} {want.display_name!r} ({live[0].id}) exists in the compartment but lacks "
                           f"the freeform tag {MANAGED_TAG}; add the tag to adopt it, or choose another 'name'.")
    if len(mine) > 1:
        raise InvalidInput(f"{len(mine)} {kind.name}s are named {want.display_name!r} with the managed-by tag "
                           f"({', '.join(r.id for r in mine)}); delete the extra ones.")
    return mine[0] if mine else None


def _changes(kind: Kind, desired: dict[str, Any], live: Any) -> dict[str, Any]:
    """Updatable fields whose desired value differs from the live one; raise on immutable drift."""
    have = _plain(live)
    for attr in kind.immutable:
        if desired.get(attr) is not None and not subset_equal(_plain(desired[attr]), have.get(attr)):
            raise InvalidInput(
                f"{kind.name} {live.display_name!r} has {attr}={have.get(attr)!r} but {desired[attr]!r} is wanted; "
                f"{attr} cannot change in place. Delete the network (state=absent) or keep the old value.")
    out: dict[str, Any] = {}
    for attr in kind.updatable:
        want = desired.get(attr)
        if want is None:
            continue
        if attr == "freeform_tags":
            if tags_differ(want, have.get(attr)):
                out[attr] = {**(have.get(attr) or {}), **want}
        elif not subset_equal(_plain(want), have.get(attr)):
            out[attr] = want
    return out


def _summary(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "display_name", "lifecycle_state", *kind.updatable, *kind.immutable)
    return {k: v for k, v in data.items() if k in keep and v is not None}


def _apply_one(client: Any, kind: Kind, want: Want, desired: dict[str, Any], live: Any, *,
               check_mode: bool, wait: bool, timeout: int, progress: list[dict[str, Any]]) -> tuple[str, Any]:
    """(action, resulting resource or None) for one wanted resource."""
    models = core_models
    if live is None:
        if check_mode:
            return "create", None
        details = getattr(models, kind.create_cls)(display_name=want.display_name, **desired)
        created = call(getattr(client, f"create_{kind.noun}"), details).data
        if wait:
            created = wait_for_state(getattr(client, f"get_{kind.noun}"), created.id, ("AVAILABLE",),
                                     timeout=timeout, progress=progress)
        return "create", created
    changes = _changes(kind, desired, live)
    if not changes:
        return "none", live
    if check_mode:
        return "update", live
    details = getattr(models, kind.update_cls)(**changes)
    updated = call(getattr(client, f"update_{kind.noun}"), live.id, details).data
    if wait:
        updated = wait_for_state(getattr(client, f"get_{kind.noun}"), live.id, ("AVAILABLE",),
                                 timeout=timeout, progress=progress)
    return "update", updated


def _all_services(client: Any) -> tuple[str, str]:
    for svc in list_all(client.list_services):
        if svc.cidr_block and svc.cidr_block.endswith(ALL_SERVICES_SUFFIX):
            return svc.id, svc.cidr_block
    raise InvalidInput("The region offers no 'All <region> Services In Oracle Services Network' service; "
                       "check 'region'.")


def reconcile_network(client: Any, params: dict[str, Any], *, check_mode: bool) -> dict[str, Any]:
    """Bring the network to `params['state']`; return changed, ids, per-resource actions and a diff."""
    service_id, services_cidr = _all_services(client)
    plan = network_plan(params, service_id=service_id, services_cidr=services_cidr)
    if params.get("state", "present") == "absent":
        return _delete_network(client, plan, params, check_mode=check_mode)
    ids: dict[str, str] = {}
    actions: list[dict[str, Any]] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    progress: list[dict[str, Any]] = []
    vcn_missing = False
    for want in plan:
        kind = KINDS[want.kind]
        desired = _resolve(want.fields, ids)
        if vcn_missing and kind.in_vcn:
            live = None  # nothing can exist inside a VCN that does not exist yet
        else:
            live = find_managed(client, kind, want, compartment_id=params["compartment_id"], vcn_id=ids.get("vcn"))
        if want.key == "vcn" and live is None:
            vcn_missing = True
        before[want.key] = _summary(kind, _plain(live)) if live is not None else None
        action, result = _apply_one(client, kind, want, desired, live, check_mode=check_mode,
                                    wait=params.get("wait", True), timeout=params.get("wait_timeout", 1800),
                                    progress=progress)
        if result is not None:
            ids[want.key] = result.id
        after[want.key] = (_summary(kind, {**_plain(live), **_plain(desired)}) if check_mode and live is not None
                           else _summary(kind, _plain(result)) if result is not None
                           else {"display_name": want.display_name, **_summary(kind, _plain(desired))})
        actions.append({"key": want.key, "kind": want.kind, "display_name": want.display_name,
                        "id": ids.get(want.key), "action": action})
    changed = any(a["action"] != "none" for a in actions)
    return {
        "changed": changed,
        "vcn_id": ids.get("vcn"),
        "subnet_ids": {"api": ids.get("subnet_api"), "workers": ids.get("subnet_workers"),
                       "load_balancers": ids.get("subnet_lb")},
        "resources": actions,
        "progress": progress,
        "diff": {"before": before, "after": after},
    }


def _delete_network(client: Any, plan: list[Want], params: dict[str, Any], *, check_mode: bool) -> dict[str, Any]:
    """Delete what exists of the plan, last created first, each waited for until TERMINATED.

    Resources already TERMINATING (a run that timed out) are only waited for, and count as no change.
    """
    comp = params["compartment_id"]
    vcn_want = plan[0]
    vcn = find_managed(client, KINDS["vcn"], vcn_want, compartment_id=comp, vcn_id=None, gone=("TERMINATED",))
    found: list[tuple[Want, Any]] = []
    if vcn is not None:
        found.append((vcn_want, vcn))
        for want in plan[1:]:
            live = find_managed(client, KINDS[want.kind], want, compartment_id=comp, vcn_id=vcn.id,
                                gone=("TERMINATED",))
            if live is not None:
                found.append((want, live))
    actions: list[dict[str, Any]] = []
    before: dict[str, Any] = {}
    progress: list[dict[str, Any]] = []
    for want, live in reversed(found):
        kind = KINDS[want.kind]
        terminating = live.lifecycle_state == "TERMINATING"
        before[want.key] = _summary(kind, _plain(live))
        actions.append({"key": want.key, "kind": want.kind, "display_name": want.display_name,
                        "id": live.id, "action": "none" if terminating else "delete"})
        if check_mode:
            continue
        if not terminating:
            delete(getattr(client, f"delete_{kind.noun}"), live.id,
                   what=f"{kind.name.replace('_', ' ')} {want.display_name!r}", in_use=IN_USE[kind.name])
        if params.get("wait", True):
            wait_for_state(getattr(client, f"get_{kind.noun}"), live.id, ("TERMINATED",),
                           timeout=params.get("wait_timeout", 1800), progress=progress, gone_ok=True)
    changed = any(a["action"] == "delete" for a in actions)
    return {"changed": changed, "vcn_id": None, "subnet_ids": {}, "resources": actions,
            "progress": progress, "diff": {"before": before, "after": {}}}
