"""oci_vcn's logic against the VirtualNetworkClient stub: plan, create, idempotence, drift, check mode, delete."""
from __future__ import annotations

import pytest

oci = pytest.importorskip("oci")

from oci.core import models as core  # noqa: E402

from ansible_collections.multicluster.gitops.plugins.module_utils import _oci_client as oc  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, InvalidInput  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_network import (  # noqa: E402
    dns_label_from,
    network_plan,
    reconcile_network,
)
from tests.unit.oci_stubs import ALL_SERVICES_CIDR, VirtualNetworkStub  # noqa: E402

COMP = "ocid1.compartment.oc1..net"


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(oc, "_sleep", lambda s: None)
    monkeypatch.setattr(oci.waiter.time, "sleep", lambda s: None)


def params(**over):
    base = {"compartment_id": COMP, "name": "hub", "state": "present", "cidr_block": "10.0.0.0/16",
            "dns_label": None, "api_subnet_cidr": "10.0.0.0/28", "workers_subnet_cidr": "10.0.10.0/24",
            "lb_subnet_cidr": "10.0.20.0/24", "api_endpoint_public": True, "api_allowed_cidrs": ["0.0.0.0/0"],
            "lb_public": True, "freeform_tags": {"env": "test"}, "wait": True, "wait_timeout": 5}
    return {**base, **over}


@pytest.fixture
def vn():
    return VirtualNetworkStub()


def by_name(vn, noun, name):
    (obj,) = [r for r in vn.of_kind(noun) if r.display_name == name and r.lifecycle_state != "TERMINATED"]
    return obj


def test_create_builds_the_whole_network(vn):
    result = reconcile_network(vn, params(), check_mode=False)
    assert result["changed"]
    assert [r["action"] for r in result["resources"]] == ["create"] * 12
    vcn = by_name(vn, "vcn", "hub-vcn")
    assert result["vcn_id"] == vcn.id and vcn.dns_label == "hub"
    assert vcn.freeform_tags == {"env": "test", "managed-by": "multicluster.gitops"}
    workers = by_name(vn, "subnet", "hub-workers-subnet")
    assert result["subnet_ids"]["workers"] == workers.id
    assert workers.prohibit_public_ip_on_vnic is True
    assert workers.route_table_id == by_name(vn, "route_table", "hub-private-rt").id
    assert workers.security_list_ids == [by_name(vn, "security_list", "hub-workers-sl").id]
    api = by_name(vn, "subnet", "hub-api-subnet")
    assert api.prohibit_public_ip_on_vnic is False
    assert api.route_table_id == by_name(vn, "route_table", "hub-public-rt").id
    private_rules = by_name(vn, "route_table", "hub-private-rt").route_rules
    assert {(r.destination, r.network_entity_id) for r in private_rules} == {
        ("0.0.0.0/0", by_name(vn, "nat_gateway", "hub-nat").id),
        (ALL_SERVICES_CIDR, by_name(vn, "service_gateway", "hub-sgw").id)}
    api_sl = by_name(vn, "security_list", "hub-api-sl")
    assert any(r.source == "0.0.0.0/0" and r.tcp_options.destination_port_range.min == 6443
               for r in api_sl.ingress_security_rules)
    assert all(p["state"] == "AVAILABLE" for p in result["progress"])


def test_second_run_changes_nothing(vn):
    reconcile_network(vn, params(), check_mode=False)
    vn.calls.clear()
    result = reconcile_network(vn, params(), check_mode=False)
    assert not result["changed"] and vn.writes() == []
    assert {r["action"] for r in result["resources"]} == {"none"}


def test_check_mode_on_empty_compartment_writes_nothing(vn):
    result = reconcile_network(vn, params(), check_mode=True)
    assert result["changed"] and vn.writes() == [] and vn.resources == {}
    assert result["diff"]["before"]["vcn"] is None
    assert result["diff"]["after"]["subnet_workers"]["cidr_block"] == "10.0.10.0/24"


def test_drift_in_security_rules_and_tags_is_corrected(vn):
    reconcile_network(vn, params(), check_mode=False)
    sl = by_name(vn, "security_list", "hub-lb-sl")
    sl.ingress_security_rules = sl.ingress_security_rules[:1]  # someone removed port 443 in the console
    vn.resources[by_name(vn, "vcn", "hub-vcn").id].freeform_tags["env"] = "changed"
    vn.calls.clear()
    checked = reconcile_network(vn, params(), check_mode=True)
    assert checked["changed"] and vn.writes() == []
    assert {r["key"] for r in checked["resources"] if r["action"] == "update"} == {"sl_lb", "vcn"}
    result = reconcile_network(vn, params(), check_mode=False)
    assert sorted(vn.writes()) == ["update_security_list", "update_vcn"]
    assert len(by_name(vn, "security_list", "hub-lb-sl").ingress_security_rules) == 2
    assert by_name(vn, "vcn", "hub-vcn").freeform_tags["env"] == "test"
    assert result["diff"]["before"]["sl_lb"] != result["diff"]["after"]["sl_lb"]


def test_changed_api_allowed_cidrs_update_only_the_api_security_list(vn):
    reconcile_network(vn, params(), check_mode=False)
    vn.calls.clear()
    reconcile_network(vn, params(api_allowed_cidrs=["203.0.113.0/24"]), check_mode=False)
    assert vn.writes() == ["update_security_list"]
    sources = {r.source for r in by_name(vn, "security_list", "hub-api-sl").ingress_security_rules}
    assert "203.0.113.0/24" in sources and "0.0.0.0/0" not in sources


def test_same_name_without_tag_is_not_adopted(vn):
    vn.create_vcn(core.CreateVcnDetails(compartment_id=COMP, display_name="hub-vcn", cidr_blocks=["10.0.0.0/16"]))
    with pytest.raises(InvalidInput) as exc:
        reconcile_network(vn, params(), check_mode=False)
    assert "managed-by" in exc.value.msg


def test_immutable_change_fails_with_advice(vn):
    reconcile_network(vn, params(), check_mode=False)
    with pytest.raises(InvalidInput) as exc:
        reconcile_network(vn, params(cidr_block="10.1.0.0/16", api_subnet_cidr="10.1.0.0/28",
                                     workers_subnet_cidr="10.1.10.0/24", lb_subnet_cidr="10.1.20.0/24"),
                          check_mode=False)
    assert "cidr_blocks" in exc.value.msg and "state=absent" in exc.value.msg


@pytest.mark.parametrize("over, needle", [
    ({"workers_subnet_cidr": "10.9.0.0/24", "cidr_block": "10.0.0.0/16"}, "not inside"),
    ({"lb_subnet_cidr": "10.0.10.0/25"}, "overlaps"),
    ({"api_allowed_cidrs": ["300.1.1.1/32"]}, "Invalid CIDR"),
])
def test_plan_rejects_bad_cidrs(over, needle):
    with pytest.raises(InvalidInput) as exc:
        network_plan(params(**over), service_id="s", services_cidr=ALL_SERVICES_CIDR)
    assert needle in exc.value.msg


@pytest.mark.parametrize("name, label", [("hub", "hub"), ("9-My_Hub-Cluster-Prod-East", "myhubclusterpro"),
                                         ("123", "oke")])
def test_dns_label(name, label):
    assert dns_label_from(name) == label


def test_private_endpoint_uses_private_route_table(vn):
    reconcile_network(vn, params(api_endpoint_public=False), check_mode=False)
    api = by_name(vn, "subnet", "hub-api-subnet")
    assert api.prohibit_public_ip_on_vnic is True
    assert api.route_table_id == by_name(vn, "route_table", "hub-private-rt").id


def test_absent_deletes_in_reverse_order_then_is_idempotent(vn):
    reconcile_network(vn, params(), check_mode=False)
    vn.calls.clear()
    checked = reconcile_network(vn, params(state="absent"), check_mode=True)
    assert checked["changed"] and vn.writes() == []
    result = reconcile_network(vn, params(state="absent"), check_mode=False)
    deletes = vn.writes()
    assert len(deletes) == 12 and deletes[0] == "delete_subnet" and deletes[-1] == "delete_vcn"
    assert deletes.index("delete_route_table") < deletes.index("delete_internet_gateway")
    assert result["changed"]
    assert all(r.lifecycle_state == "TERMINATED" for r in vn.resources.values())
    vn.calls.clear()
    assert not reconcile_network(vn, params(state="absent"), check_mode=False)["changed"]
    assert vn.writes() == []


def test_api_error_during_create_carries_request_id(vn):
    vn.fail("create_subnet", status=400, code="LimitExceeded", message="subnet-count limit", request_id="RID-9")
    with pytest.raises(ApiError) as exc:
        reconcile_network(vn, params(), check_mode=False)
    assert "RID-9" in exc.value.msg and exc.value.request_id == "RID-9"


# --- state: absent -----------------------------------------------------------------------------------
VNIC_IN_USE = ("The Subnet ocid1.subnet.oc1.x references the VNIC ocid1.vnic.oc1.y. "
               "You must remove the reference to proceed with this operation.")


def live_of(vn, noun):
    return [r for r in vn.of_kind(noun) if r.lifecycle_state != "TERMINATED"]


def test_absent_on_an_empty_compartment_changes_nothing(vn):
    result = reconcile_network(vn, params(state="absent"), check_mode=False)
    assert not result["changed"] and result["resources"] == [] and vn.writes() == []


def test_absent_check_mode_lists_every_resource_and_deletes_nothing(vn):
    reconcile_network(vn, params(), check_mode=False)
    vn.calls.clear()
    result = reconcile_network(vn, params(state="absent"), check_mode=True)
    assert result["changed"] and vn.writes() == []
    assert {r["action"] for r in result["resources"]} == {"delete"}
    assert len(result["diff"]["before"]) == 12 and result["diff"]["after"] == {}
    assert all(r.lifecycle_state == "AVAILABLE" for r in vn.resources.values())


def test_absent_waits_for_each_deletion_before_the_next(vn):
    reconcile_network(vn, params(), check_mode=False)
    vn.calls.clear()
    result = reconcile_network(vn, params(state="absent"), check_mode=False)
    ops = [op for op, call_args in vn.calls if op.startswith(("delete_", "get_"))]
    # every delete is followed by a get of the same kind (the waiter) before the next delete
    for i, op in enumerate(ops):
        if op.startswith("delete_"):
            assert ops[i + 1] == "get_" + op.removeprefix("delete_")
    assert {p["state"] for p in result["progress"]} == {"TERMINATED"}
    assert len({p["id"] for p in result["progress"]}) == 12


def test_absent_409_while_a_load_balancer_uses_the_subnet(vn):
    reconcile_network(vn, params(), check_mode=False)
    vn.calls.clear()
    vn.fail("delete_subnet", status=409, code="Conflict", message=VNIC_IN_USE, request_id="RID-409")
    with pytest.raises(ApiError) as exc:
        reconcile_network(vn, params(state="absent"), check_mode=False)
    msg = exc.value.msg
    assert exc.value.status == 409 and exc.value.request_id == "RID-409"
    assert "subnet 'hub-lb-subnet'" in msg and "references the VNIC" in msg and "LoadBalancer" in msg
    assert "RID-409" in msg and "still running" not in msg
    assert vn.writes() == ["delete_subnet"]  # a Conflict is not retried and nothing after it is deleted
    assert len(live_of(vn, "subnet")) == 3 and len(live_of(vn, "vcn")) == 1
    # once the load balancer is gone, the same task finishes the job
    result = reconcile_network(vn, params(state="absent"), check_mode=False)
    assert result["changed"] and len(result["resources"]) == 12
    assert all(r.lifecycle_state == "TERMINATED" for r in vn.resources.values())


def test_absent_vcn_still_holding_foreign_resources(vn):
    reconcile_network(vn, params(), check_mode=False)
    # OCI answers IncorrectState while a gateway is in use: retried, then reported with what to delete
    vn.fail("delete_vcn", status=409, code="IncorrectState", times=6, request_id="RID-V",
            message="ocid1.vcn.oc1.x is associated with Gateway that is in use")
    with pytest.raises(ApiError) as exc:
        reconcile_network(vn, params(state="absent"), check_mode=False)
    assert "vcn 'hub-vcn'" in exc.value.msg and "did not create" in exc.value.msg
    assert [op for op, call_args in vn.calls].count("delete_vcn") == 6
    assert live_of(vn, "subnet") == [] and len(live_of(vn, "vcn")) == 1


def test_absent_after_a_run_that_did_not_wait(vn):
    reconcile_network(vn, params(), check_mode=False)
    first = reconcile_network(vn, params(state="absent", wait=False), check_mode=False)
    assert first["changed"] and first["progress"] == []
    assert {r.lifecycle_state for r in vn.resources.values()} == {"TERMINATING"}
    vn.calls.clear()
    second = reconcile_network(vn, params(state="absent"), check_mode=False)
    assert not second["changed"] and vn.writes() == []
    assert {r["action"] for r in second["resources"]} == {"none"}
    assert {r.lifecycle_state for r in vn.resources.values()} == {"TERMINATED"}


def test_absent_does_not_touch_another_network(vn):
    reconcile_network(vn, params(), check_mode=False)
    reconcile_network(vn, params(name="other"), check_mode=False)
    reconcile_network(vn, params(state="absent"), check_mode=False)
    assert len(live_of(vn, "subnet")) == 3
    assert {r.display_name for r in live_of(vn, "vcn")} == {"other-vcn"}
