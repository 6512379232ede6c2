"""The oci_* module files: argument specs, check/diff mode plumbing, error mapping and no_log."""
from __future__ import annotations

import json

import pytest

oci = pytest.importorskip("oci")

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.multicluster.gitops.plugins.module_utils import _oci_client as oc  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.modules import (  # noqa: E402
    oci_oke_cluster,
    oci_oke_kubeconfig,
    oci_oke_node_pool,
    oci_vcn,
)
from tests.unit.oci_stubs import ContainerEngineStub, VirtualNetworkStub  # noqa: E402

SECRET_KEY = "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END RSA PRIVATE KEY-----"


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(oc, "_sleep", lambda s: None)
    monkeypatch.setattr(oci.waiter.time, "sleep", lambda s: None)


def run(module, args, monkeypatch, capsys, client):
    monkeypatch.setattr(module, "oci_client", lambda cls, params: client)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        module.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out


def test_vcn_check_and_diff(monkeypatch, capsys):
    vn = VirtualNetworkStub()
    rc, result, stdout = run(oci_vcn, {"compartment_id": "c", "name": "hub", "_ansible_check_mode": True,
                                       "_ansible_diff": True}, monkeypatch, capsys, vn)
    assert rc == 0 and result["changed"] and vn.writes() == []
    assert "diff" in result and result["diff"]["after"]["vcn"]["display_name"] == "hub-vcn"


def test_vcn_without_diff_mode_returns_no_diff(monkeypatch, capsys):
    rc, result, stdout = run(oci_vcn, {"compartment_id": "c", "name": "hub"}, monkeypatch, capsys, VirtualNetworkStub())
    assert rc == 0 and "diff" not in result and result["vcn_id"].startswith("ocid1.vcn.")


def test_cluster_required_if(monkeypatch, capsys):
    rc, result, stdout = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub"}, monkeypatch, capsys,
                             ContainerEngineStub())
    assert rc == 1 and "vcn_id" in result["msg"]


def test_api_error_becomes_fail_json_with_request_id_and_no_key(monkeypatch, capsys):
    ce = ContainerEngineStub()
    ce.fail("create_cluster", status=400, code="LimitExceeded", request_id="RID-42", message="quota reached")
    args = {"compartment_id": "c", "name": "hub", "vcn_id": "v", "kubernetes_version": "v1.33.1",
            "endpoint_subnet_id": "s", "api_user_key_content": SECRET_KEY}
    rc, result, out = run(oci_oke_cluster, args, monkeypatch, capsys, ce)
    assert rc == 1 and result["failed"]
    assert result["opc_request_id"] == "RID-42" and result["status"] == 400 and "RID-42" in result["msg"]
    assert "SECRETKEYMATERIAL" not in out


def test_node_pool_drift_through_the_module(monkeypatch, capsys):
    ce = ContainerEngineStub()
    rc, cluster, stdout = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub", "vcn_id": "v",
                                                "kubernetes_version": "v1.33.1", "endpoint_subnet_id": "s"},
                              monkeypatch, capsys, ce)
    args = {"compartment_id": "c", "cluster_id": cluster["cluster"]["id"], "name": "pool", "subnet_id": "w",
            "availability_domains": ["AD-1", "AD-2"], "size": 2}
    rc, first, stdout = run(oci_oke_node_pool, args, monkeypatch, capsys, ce)
    assert rc == 0 and first["changed"]
    ce.resize_outside(first["node_pool"]["id"], 5)
    rc, fixed, stdout = run(oci_oke_node_pool, args, monkeypatch, capsys, ce)
    assert fixed["changed"] and fixed["node_pool"]["size"] == 2
    rc, again, stdout = run(oci_oke_node_pool, args, monkeypatch, capsys, ce)
    assert not again["changed"]


def test_kubeconfig_module_writes_the_real_token_script(monkeypatch, capsys, tmp_path):
    ce = ContainerEngineStub()
    rc, cluster, stdout = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub", "vcn_id": "v",
                                                "kubernetes_version": "v1.33.1", "endpoint_subnet_id": "s"},
                              monkeypatch, capsys, ce)
    args = {"cluster_id": cluster["cluster"]["id"], "dest": str(tmp_path / "hub.kubeconfig"),
            "token_generator": "collection"}
    rc, result, stdout = run(oci_oke_kubeconfig, args, monkeypatch, capsys, ce)
    assert rc == 0 and result["token_generator"] == "collection"
    script = (tmp_path / "oke-token.py").read_text()
    assert "def generate_token" in script and script.startswith("#!/usr/bin/env python3")


# --- state: absent through the modules -----------------------------------------------------------------
def make_hub(monkeypatch, capsys, vn, ce):
    """Network, cluster and node pool as the role creates them."""
    rc, net, stdout = run(oci_vcn, {"compartment_id": "c", "name": "hub"}, monkeypatch, capsys, vn)
    rc, cluster, stdout = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub", "vcn_id": net["vcn_id"],
                                                "kubernetes_version": "v1.33.1",
                                                "endpoint_subnet_id": net["subnet_ids"]["api"]}, monkeypatch, capsys, ce)
    run(oci_oke_node_pool, {"compartment_id": "c", "cluster_id": cluster["cluster"]["id"], "name": "hub-pool",
                            "subnet_id": net["subnet_ids"]["workers"], "availability_domains": ["AD-1"]},
        monkeypatch, capsys, ce)


ABSENT = [
    (oci_oke_node_pool, "ce", {"compartment_id": "c", "cluster_name": "hub", "name": "hub-pool", "state": "absent"}),
    (oci_oke_cluster, "ce", {"compartment_id": "c", "name": "hub", "state": "absent"}),
    (oci_vcn, "vn", {"compartment_id": "c", "name": "hub", "state": "absent"}),
]


def test_teardown_check_mode_then_real_then_again(monkeypatch, capsys):
    clients = {"vn": VirtualNetworkStub(), "ce": ContainerEngineStub()}
    make_hub(monkeypatch, capsys, clients["vn"], clients["ce"])
    for client in clients.values():
        client.calls.clear()
    for module, which, args in ABSENT:
        rc, result, stdout = run(module, {**args, "_ansible_check_mode": True, "_ansible_diff": True}, monkeypatch,
                                 capsys, clients[which])
        assert rc == 0 and result["changed"] and result["diff"]["before"], module.__name__
    assert clients["vn"].writes() == [] and clients["ce"].writes() == []
    for module, which, args in ABSENT:
        rc, result, stdout = run(module, args, monkeypatch, capsys, clients[which])
        assert rc == 0 and result["changed"], module.__name__
    assert clients["ce"].writes() == ["delete_node_pool", "delete_cluster"]
    assert len(clients["vn"].writes()) == 12
    for client in clients.values():
        client.calls.clear()
    for module, which, args in ABSENT:
        rc, result, stdout = run(module, args, monkeypatch, capsys, clients[which])
        assert rc == 0 and not result["changed"], module.__name__
    assert clients["vn"].writes() == [] and clients["ce"].writes() == []


def test_delete_conflict_fails_with_the_resource_and_request_id(monkeypatch, capsys):
    vn, ce = VirtualNetworkStub(), ContainerEngineStub()
    make_hub(monkeypatch, capsys, vn, ce)
    vn.fail("delete_subnet", status=409, code="Conflict", request_id="RID-LB",
            message="The Subnet ocid1.subnet.x references the VNIC ocid1.vnic.y. You must remove the reference.")
    rc, result, stdout = run(oci_vcn, {"compartment_id": "c", "name": "hub", "state": "absent"}, monkeypatch, capsys, vn)
    assert rc == 1 and result["status"] == 409 and result["opc_request_id"] == "RID-LB"
    assert "hub-lb-subnet" in result["msg"] and "LoadBalancer Services" in result["msg"]


def test_node_pool_needs_its_cluster_by_id_or_name(monkeypatch, capsys):
    args = {"compartment_id": "c", "name": "hub-pool", "state": "absent"}
    rc, result, stdout = run(oci_oke_node_pool, args, monkeypatch, capsys, ContainerEngineStub())
    assert rc == 1 and "cluster_id" in result["msg"] and "cluster_name" in result["msg"]
    rc, result, stdout = run(oci_oke_node_pool, {**args, "cluster_id": "x", "cluster_name": "hub"}, monkeypatch, capsys,
                             ContainerEngineStub())
    assert rc == 1 and "mutually exclusive" in result["msg"]


def test_kubeconfig_absent_without_cluster_or_credentials(monkeypatch, capsys, tmp_path):
    dest = tmp_path / "hub.kubeconfig"
    dest.write_text("apiVersion: v1\n")

    def no_client(cls, params):
        raise AssertionError("removing the kubeconfig must not build an OCI client")

    monkeypatch.setattr(oci_oke_kubeconfig, "oci_client", no_client)
    for expect in (True, False):
        with patch_module_args({"dest": str(dest), "state": "absent"}), pytest.raises(SystemExit):
            oci_oke_kubeconfig.main()
        result = json.loads(capsys.readouterr().out)
        assert result["changed"] is expect and not dest.exists()
    with patch_module_args({"dest": str(dest)}), pytest.raises(SystemExit):
        oci_oke_kubeconfig.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "cluster_id" in result["msg"]
