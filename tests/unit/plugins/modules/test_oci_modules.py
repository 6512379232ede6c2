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
    rc, result, _ = run(oci_vcn, {"compartment_id": "c", "name": "hub", "_ansible_check_mode": True,
                                  "_ansible_diff": True}, monkeypatch, capsys, vn)
    assert rc == 0 and result["changed"] and vn.writes() == []
    assert "diff" in result and result["diff"]["after"]["vcn"]["display_name"] == "hub-vcn"


def test_vcn_without_diff_mode_returns_no_diff(monkeypatch, capsys):
    rc, result, _ = run(oci_vcn, {"compartment_id": "c", "name": "hub"}, monkeypatch, capsys, VirtualNetworkStub())
    assert rc == 0 and "diff" not in result and result["vcn_id"].startswith("ocid1.vcn.")


def test_cluster_required_if(monkeypatch, capsys):
    rc, result, _ = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub"}, monkeypatch, capsys,
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
    rc, cluster, _ = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub", "vcn_id": "v",
                                           "kubernetes_version": "v1.33.1", "endpoint_subnet_id": "s"},
                         monkeypatch, capsys, ce)
    args = {"compartment_id": "c", "cluster_id": cluster["cluster"]["id"], "name": "pool", "subnet_id": "w",
            "availability_domains": ["AD-1", "AD-2"], "size": 2}
    rc, first, _ = run(oci_oke_node_pool, args, monkeypatch, capsys, ce)
    assert rc == 0 and first["changed"]
    ce.resize_outside(first["node_pool"]["id"], 5)
    rc, fixed, _ = run(oci_oke_node_pool, args, monkeypatch, capsys, ce)
    assert fixed["changed"] and fixed["node_pool"]["size"] == 2
    rc, again, _ = run(oci_oke_node_pool, args, monkeypatch, capsys, ce)
    assert not again["changed"]


def test_kubeconfig_module_writes_the_real_token_script(monkeypatch, capsys, tmp_path):
    ce = ContainerEngineStub()
    _, cluster, _ = run(oci_oke_cluster, {"compartment_id": "c", "name": "hub", "vcn_id": "v",
                                          "kubernetes_version": "v1.33.1", "endpoint_subnet_id": "s"},
                        monkeypatch, capsys, ce)
    args = {"cluster_id": cluster["cluster"]["id"], "dest": str(tmp_path / "hub.kubeconfig"),
            "token_generator": "collection"}
    rc, result, _ = run(oci_oke_kubeconfig, args, monkeypatch, capsys, ce)
    assert rc == 0 and result["token_generator"] == "collection"
    script = (tmp_path / "oke-token.py").read_text()
    assert "def generate_token" in script and script.startswith("#!/usr/bin/env python3")
