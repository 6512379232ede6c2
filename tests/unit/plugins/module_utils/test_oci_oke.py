"""OKE cluster, node pool and kubeconfig logic against the ContainerEngineClient stub."""
from __future__ import annotations

import os

import pytest

oci = pytest.importorskip("oci")
yaml = pytest.importorskip("yaml")

from ansible_collections.multicluster.gitops.plugins.module_utils import _oci_client as oc  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, InvalidInput  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_oke import (  # noqa: E402
    pick_image,
    reconcile_cluster,
    reconcile_kubeconfig,
    reconcile_node_pool,
)
from tests.unit.oci_stubs import ContainerEngineStub  # noqa: E402

COMP = "ocid1.compartment.oc1..oke"
ADS = ["kIdk:EU-FRANKFURT-1-AD-1", "kIdk:EU-FRANKFURT-1-AD-2", "kIdk:EU-FRANKFURT-1-AD-3"]


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(oc, "_sleep", lambda s: None)
    monkeypatch.setattr(oci.waiter.time, "sleep", lambda s: None)


@pytest.fixture
def ce():
    return ContainerEngineStub(upgrades=["v1.34.1"])


def cluster_params(**over):
    base = {"compartment_id": COMP, "name": "hub", "state": "present", "vcn_id": "ocid1.vcn.x",
            "kubernetes_version": "v1.33.1", "cluster_type": "BASIC_CLUSTER", "cni_type": "OCI_VCN_IP_NATIVE",
            "endpoint_subnet_id": "ocid1.subnet.api", "endpoint_public": True,
            "service_lb_subnet_ids": ["ocid1.subnet.lb"], "pods_cidr": "10.244.0.0/16",
            "services_cidr": "10.96.0.0/16", "freeform_tags": {}, "wait": True, "wait_timeout": 5}
    return {**base, **over}


def pool_params(cluster_id, **over):
    base = {"compartment_id": COMP, "cluster_id": cluster_id, "name": "hub-pool", "state": "present",
            "kubernetes_version": None, "node_shape": "VM.Standard.E5.Flex", "ocpus": 2.0, "memory_in_gbs": 16.0,
            "image_id": None, "boot_volume_size_in_gbs": None, "size": 3, "subnet_id": "ocid1.subnet.workers",
            "availability_domains": [], "pod_subnet_ids": [], "max_pods_per_node": 31, "ssh_public_key": None,
            "initial_node_labels": {"role": "hub"}, "freeform_tags": {}, "wait": True, "wait_timeout": 5}
    return {**base, **over}


def make_cluster(ce, **over):
    return reconcile_cluster(ce, cluster_params(**over), check_mode=False)["cluster"]


# --- cluster -------------------------------------------------------------------------------------------
def test_cluster_create_then_rerun_is_idempotent(ce):
    result = reconcile_cluster(ce, cluster_params(), check_mode=False)
    assert result["changed"] and ce.writes() == ["create_cluster"]
    (created,) = ce.clusters.values()
    details = ce.calls[1][1][0]
    assert details.cluster_pod_network_options[0].cni_type == "OCI_VCN_IP_NATIVE"
    assert details.options.service_lb_subnet_ids == ["ocid1.subnet.lb"]
    assert details.endpoint_config.is_public_ip_enabled is True
    assert created.freeform_tags == {"managed-by": "multicluster.gitops"}
    assert result["cluster"]["id"] == created.id and result["cluster"]["cni_type"] == "OCI_VCN_IP_NATIVE"
    assert [p["status"] for p in result["progress"]] == ["SUCCEEDED"]
    ce.calls.clear()
    again = reconcile_cluster(ce, cluster_params(), check_mode=False)
    assert not again["changed"] and ce.writes() == []


def test_cluster_check_mode_creates_nothing(ce):
    result = reconcile_cluster(ce, cluster_params(), check_mode=True)
    assert result["changed"] and ce.clusters == {} and ce.writes() == []
    assert result["diff"]["after"]["kubernetes_version"] == "v1.33.1"


def test_cluster_upgrade_type_and_endpoint(ce):
    make_cluster(ce)
    ce.calls.clear()
    want = cluster_params(kubernetes_version="v1.34.1", cluster_type="ENHANCED_CLUSTER", endpoint_public=False)
    checked = reconcile_cluster(ce, want, check_mode=True)
    assert checked["changed"] and ce.writes() == []
    assert checked["diff"]["after"]["cluster_type"] == "ENHANCED_CLUSTER"
    result = reconcile_cluster(ce, want, check_mode=False)
    assert ce.writes() == ["update_cluster", "update_cluster_endpoint_config"]
    assert result["cluster"]["kubernetes_version"] == "v1.34.1"
    assert result["cluster"]["cluster_type"] == "ENHANCED_CLUSTER"
    assert result["cluster"]["endpoint_public"] is False


@pytest.mark.parametrize("over, needle", [
    ({"kubernetes_version": "v1.32.1"}, "cannot downgrade"),
    ({"kubernetes_version": "v1.36.0"}, "only to v1.34.1"),
    ({"cni_type": "FLANNEL_OVERLAY"}, "cni_type"),
    ({"vcn_id": "ocid1.vcn.other"}, "vcn_id"),
])
def test_cluster_changes_oke_cannot_make(ce, over, needle):
    make_cluster(ce)
    with pytest.raises(InvalidInput) as exc:
        reconcile_cluster(ce, cluster_params(**over), check_mode=False)
    assert needle in exc.value.msg


def test_enhanced_cannot_become_basic(ce):
    make_cluster(ce, cluster_type="ENHANCED_CLUSTER")
    with pytest.raises(InvalidInput, match="BASIC_CLUSTER"):
        reconcile_cluster(ce, cluster_params(), check_mode=False)


def test_cluster_quota_exceeded(ce):
    ce.fail("create_cluster", status=400, code="LimitExceeded", request_id="Q-1",
            message="You have reached the cluster quota for this compartment")
    with pytest.raises(ApiError) as exc:
        reconcile_cluster(ce, cluster_params(), check_mode=False)
    assert "Q-1" in exc.value.msg and "quota" in exc.value.msg.lower()


def test_cluster_list_throttled_then_served(ce):
    ce.fail("list_clusters", status=429, code="TooManyRequests", times=3)
    assert reconcile_cluster(ce, cluster_params(), check_mode=False)["changed"]


def test_cluster_absent(ce):
    make_cluster(ce)
    ce.calls.clear()
    assert reconcile_cluster(ce, cluster_params(state="absent"), check_mode=True)["changed"]
    assert ce.writes() == []
    assert reconcile_cluster(ce, cluster_params(state="absent"), check_mode=False)["changed"]
    assert ce.writes() == ["delete_cluster"]
    assert not reconcile_cluster(ce, cluster_params(state="absent"), check_mode=False)["changed"]


# --- node pool -----------------------------------------------------------------------------------------
def make_pool(ce, **over):
    cluster = make_cluster(ce)
    result = reconcile_node_pool(ce, pool_params(cluster["id"], **over), check_mode=False,
                                 availability_domains=lambda: ADS)
    return cluster, result


def test_node_pool_create_spreads_over_ads(ce):
    result = make_pool(ce)[1]
    assert result["changed"]
    (np,) = ce.node_pools.values()
    cfg = np.node_config_details
    assert cfg.size == 3 and [pc.availability_domain for pc in cfg.placement_configs] == sorted(ADS)
    assert cfg.node_pool_pod_network_option_details.cni_type == "OCI_VCN_IP_NATIVE"
    assert cfg.node_pool_pod_network_option_details.pod_subnet_ids == ["ocid1.subnet.workers"]
    assert np.node_shape_config.ocpus == 2.0 and np.node_shape_config.memory_in_gbs == 16.0
    assert np.node_source_details.image_id == "ocid1.image.x86-new"
    assert np.kubernetes_version == "v1.33.1" and np.initial_node_labels[0].key == "role"
    assert {n["availability_domain"] for n in result["node_pool"]["nodes"]} == set(ADS)


def test_node_pool_rerun_changes_nothing(ce):
    cluster = make_pool(ce)[0]
    ce.calls.clear()
    result = reconcile_node_pool(ce, pool_params(cluster["id"]), check_mode=False, availability_domains=lambda: ADS)
    assert not result["changed"] and ce.writes() == []


def test_node_pool_size_changed_outside_is_corrected(ce):
    cluster = make_pool(ce)[0]
    (pool_id,) = ce.node_pools
    ce.resize_outside(pool_id, 1)
    ce.calls.clear()
    checked = reconcile_node_pool(ce, pool_params(cluster["id"]), check_mode=True, availability_domains=lambda: ADS)
    assert checked["changed"] and ce.writes() == [] and ce.node_pools[pool_id].node_config_details.size == 1
    assert (checked["diff"]["before"]["size"], checked["diff"]["after"]["size"]) == (1, 3)
    result = reconcile_node_pool(ce, pool_params(cluster["id"]), check_mode=False, availability_domains=lambda: ADS)
    assert result["changed"] and ce.writes() == ["update_node_pool"]
    update = [args for op, args in ce.calls if op == "update_node_pool"][0][1]
    assert update.node_config_details.size == 3 and update.node_config_details.placement_configs is None
    assert update.node_shape_config is None and update.kubernetes_version is None
    assert ce.node_pools[pool_id].node_config_details.size == 3 and result["node_pool"]["size"] == 3


def test_node_pool_shape_change(ce):
    cluster = make_pool(ce)[0]
    ce.calls.clear()
    reconcile_node_pool(ce, pool_params(cluster["id"], ocpus=4.0, memory_in_gbs=32.0), check_mode=False,
                        availability_domains=lambda: ADS)
    (np,) = ce.node_pools.values()
    assert (np.node_shape_config.ocpus, np.node_shape_config.memory_in_gbs) == (4.0, 32.0)


def test_node_pool_conflict_is_reported(ce):
    cluster = make_pool(ce)[0]
    ce.fail("update_node_pool", status=409, code="Conflict", request_id="C-7",
            message="Node pool is being updated by another request")
    with pytest.raises(ApiError) as exc:
        reconcile_node_pool(ce, pool_params(cluster["id"], size=5), check_mode=False, availability_domains=lambda: ADS)
    assert exc.value.status == 409 and "C-7" in exc.value.msg and "still running" in exc.value.msg


def test_node_pool_failed_work_request(ce):
    cluster = make_cluster(ce)
    ce.work_request_statuses = ["ACCEPTED", "IN_PROGRESS", "FAILED"]
    with pytest.raises(ApiError) as exc:
        reconcile_node_pool(ce, pool_params(cluster["id"]), check_mode=False, availability_domains=lambda: ADS)
    assert "FAILED" in exc.value.msg and "node launch failed" in exc.value.msg


def test_node_pool_absent(ce):
    cluster = make_pool(ce)[0]
    ce.calls.clear()
    result = reconcile_node_pool(ce, pool_params(cluster["id"], state="absent"), check_mode=False,
                                 availability_domains=lambda: ADS)
    assert result["changed"] and ce.writes() == ["delete_node_pool"]


@pytest.mark.parametrize("shape, version, image", [
    ("VM.Standard.E5.Flex", "v1.33.1", "ocid1.image.x86-new"),
    ("VM.Standard.A1.Flex", "v1.33.1", "ocid1.image.arm"),
    ("VM.Standard.E4.Flex", "v1.34.1", "ocid1.image.x86-134"),
])
def test_pick_image(ce, shape, version, image):
    assert pick_image(ce.images, kubernetes_version=version, shape=shape) == image


def test_pick_image_none(ce):
    with pytest.raises(InvalidInput, match="image_id"):
        pick_image(ce.images, kubernetes_version="v1.20.0", shape="VM.Standard.E5.Flex")


# --- kubeconfig ----------------------------------------------------------------------------------------
def kc_params(cluster_id, dest, **over):
    return {"cluster_id": cluster_id, "dest": str(dest), "state": "present", "endpoint": "PUBLIC_ENDPOINT",
            "context_name": "hub", "token_generator": "auto", "token_script": None, "auth_type": "api_key",
            "config_profile_name": "hub", "config_file_location": None, **over}


def test_kubeconfig_with_collection_token_script(ce, tmp_path):
    cluster = make_cluster(ce)
    dest = tmp_path / "kube" / "hub.kubeconfig"
    result = reconcile_kubeconfig(ce, kc_params(cluster["id"], dest), check_mode=False, script_source=b"#!script\n",
                                  which=lambda name: None, python="/venv/bin/python")
    assert result["changed"] and result["token_generator"] == "collection"
    cfg = yaml.safe_load(dest.read_text())
    exec_cfg = cfg["users"][0]["user"]["exec"]
    script = tmp_path / "kube" / "oke-token.py"
    assert exec_cfg["command"] == "/venv/bin/python"
    assert exec_cfg["args"][:4] == [str(script), "ce", "cluster", "generate-token"]
    assert exec_cfg["args"][-2:] == ["--profile", "hub"] and cluster["id"] in exec_cfg["args"]
    assert cfg["current-context"] == "hub" and cfg["contexts"][0]["name"] == "hub"
    assert oct(dest.stat().st_mode & 0o777) == "0o600" and os.access(script, os.X_OK)
    assert script.read_bytes() == b"#!script\n"
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in str(result["diff"]["after"])
    again = reconcile_kubeconfig(ce, kc_params(cluster["id"], dest), check_mode=False, script_source=b"#!script\n",
                                 which=lambda name: None, python="/venv/bin/python")
    assert not again["changed"]


def test_kubeconfig_prefers_oci_cli_and_check_mode_writes_nothing(ce, tmp_path):
    cluster = make_cluster(ce)
    dest = tmp_path / "hub.kubeconfig"
    checked = reconcile_kubeconfig(ce, kc_params(cluster["id"], dest), check_mode=True, script_source=b"x",
                                   which=lambda name: "/usr/bin/oci")
    assert checked["changed"] and not dest.exists()
    result = reconcile_kubeconfig(ce, kc_params(cluster["id"], dest), check_mode=False, script_source=b"x",
                                  which=lambda name: "/usr/bin/oci")
    exec_cfg = yaml.safe_load(dest.read_text())["users"][0]["user"]["exec"]
    assert result["token_generator"] == "oci_cli" and exec_cfg["command"] == "/usr/bin/oci"
    assert exec_cfg["args"][0] == "ce" and not (tmp_path / "oke-token.py").exists()


def test_kubeconfig_oci_cli_missing(ce, tmp_path):
    cluster = make_cluster(ce)
    with pytest.raises(InvalidInput, match="oci-cli"):
        reconcile_kubeconfig(ce, kc_params(cluster["id"], tmp_path / "k", token_generator="oci_cli"),
                             check_mode=False, script_source=b"x", which=lambda name: None)


def test_kubeconfig_instance_principal_args(ce, tmp_path):
    cluster = make_cluster(ce)
    dest = tmp_path / "k"
    reconcile_kubeconfig(ce, kc_params(cluster["id"], dest, auth_type="instance_principal", config_profile_name=None),
                         check_mode=False, script_source=b"x", which=lambda name: "/usr/bin/oci")
    args = yaml.safe_load(dest.read_text())["users"][0]["user"]["exec"]["args"]
    assert args[-2:] == ["--auth", "instance_principal"]


# --- state: absent -------------------------------------------------------------------------------------
class SlowDeleteStub(ContainerEngineStub):
    """Deletions stay DELETING until the next read, like OKE while the work request runs."""

    def get_cluster(self, cluster_id, **kwargs):
        resp = super().get_cluster(cluster_id, **kwargs)
        if self.clusters[cluster_id].lifecycle_state == "DELETING":
            self.clusters[cluster_id].lifecycle_state = "DELETED"
        return resp

    def get_node_pool(self, node_pool_id, **kwargs):
        resp = super().get_node_pool(node_pool_id, **kwargs)
        if self.node_pools[node_pool_id].lifecycle_state == "DELETING":
            self.node_pools[node_pool_id].lifecycle_state = "DELETED"
        return resp


def absent_pool(**over):
    return {"compartment_id": COMP, "cluster_id": None, "cluster_name": "hub", "name": "hub-pool", "state": "absent",
            "wait": True, "wait_timeout": 5, **over}


def no_ads():
    raise AssertionError("an absent node pool needs no availability domains")


def test_cluster_absent_waits_for_the_work_request_and_diffs(ce):
    cluster = make_cluster(ce)
    ce.calls.clear()
    checked = reconcile_cluster(ce, cluster_params(state="absent"), check_mode=True)
    assert checked["changed"] and ce.writes() == [] and checked["diff"]["before"]["id"] == cluster["id"]
    ce.work_request_statuses = ["ACCEPTED", "IN_PROGRESS", "SUCCEEDED"]
    result = reconcile_cluster(ce, cluster_params(state="absent"), check_mode=False)
    assert [p["status"] for p in result["progress"]] == ["ACCEPTED", "IN_PROGRESS", "SUCCEEDED"]
    assert {p["operation"] for p in result["progress"]} == {"CLUSTER_DELETE"}
    assert result["diff"] == {"before": checked["diff"]["before"], "after": None}


def test_cluster_absent_failed_work_request_is_an_error(ce):
    make_cluster(ce)
    ce.work_request_statuses = ["IN_PROGRESS", "FAILED"]
    with pytest.raises(ApiError, match="CLUSTER_DELETE.*FAILED"):
        reconcile_cluster(ce, cluster_params(state="absent"), check_mode=False)


def test_cluster_absent_409_says_what_to_wait_for(ce):
    cluster = make_cluster(ce)
    ce.fail("delete_cluster", status=409, code="Conflict", request_id="RID-C",
            message="Cluster has a work request in progress")
    with pytest.raises(ApiError) as exc:
        reconcile_cluster(ce, cluster_params(state="absent"), check_mode=False)
    assert exc.value.status == 409 and "cluster 'hub'" in exc.value.msg and cluster["id"] in exc.value.msg
    assert "work-request list" in exc.value.msg and "RID-C" in exc.value.msg
    assert ce.clusters[cluster["id"]].lifecycle_state == "ACTIVE"


def test_cluster_absent_waits_for_a_deletion_already_running():
    ce = SlowDeleteStub()
    cluster = make_cluster(ce)
    ce.clusters[cluster["id"]].lifecycle_state = "DELETING"  # a previous run timed out
    ce.calls.clear()
    result = reconcile_cluster(ce, cluster_params(state="absent"), check_mode=False)
    assert not result["changed"] and ce.writes() == []
    assert ce.clusters[cluster["id"]].lifecycle_state == "DELETED"
    assert [p["state"] for p in result["progress"]] == ["DELETED"]


def test_node_pool_absent_by_cluster_name(ce):
    created = make_pool(ce)[1]
    ce.calls.clear()
    checked = reconcile_node_pool(ce, absent_pool(), check_mode=True, availability_domains=no_ads)
    assert checked["changed"] and ce.writes() == []
    assert checked["diff"]["before"]["id"] == created["node_pool"]["id"]
    result = reconcile_node_pool(ce, absent_pool(), check_mode=False, availability_domains=no_ads)
    assert result["changed"] and ce.writes() == ["delete_node_pool"]
    assert [(p["operation"], p["status"]) for p in result["progress"]] == [("NODEPOOL_DELETE", "SUCCEEDED")]
    ce.calls.clear()
    again = reconcile_node_pool(ce, absent_pool(), check_mode=False, availability_domains=no_ads)
    assert not again["changed"] and ce.writes() == []


def test_node_pool_absent_when_the_cluster_is_gone(ce):
    for over in ({}, {"cluster_name": None, "cluster_id": "ocid1.cluster.oc1..gone"}):
        result = reconcile_node_pool(ce, absent_pool(**over), check_mode=False, availability_domains=no_ads)
        assert not result["changed"] and ce.writes() == []
    assert "list_node_pools" not in [op for op, call_args in ce.calls]


def test_node_pool_absent_409_while_another_work_request_runs(ce):
    make_pool(ce)
    ce.fail("delete_node_pool", status=409, code="Conflict", request_id="RID-P",
            message="Node pool is being updated by another request")
    with pytest.raises(ApiError) as exc:
        reconcile_node_pool(ce, absent_pool(), check_mode=False, availability_domains=no_ads)
    assert exc.value.status == 409 and "node pool 'hub-pool'" in exc.value.msg and "RID-P" in exc.value.msg
    assert "work-request list" in exc.value.msg
    (pool,) = ce.node_pools.values()
    assert pool.lifecycle_state == "ACTIVE"


def test_node_pool_absent_waits_for_a_deletion_already_running():
    ce = SlowDeleteStub()
    make_pool(ce)
    (pool,) = ce.node_pools.values()
    pool.lifecycle_state = "DELETING"
    ce.calls.clear()
    result = reconcile_node_pool(ce, absent_pool(), check_mode=False, availability_domains=no_ads)
    assert not result["changed"] and ce.writes() == [] and pool.lifecycle_state == "DELETED"


def test_node_pool_present_needs_an_existing_cluster(ce):
    with pytest.raises(InvalidInput, match="No cluster named 'hub'"):
        reconcile_node_pool(ce, {**pool_params(None), "cluster_name": "hub"}, check_mode=False,
                            availability_domains=lambda: ADS)


def test_node_pool_present_by_cluster_name(ce):
    cluster = make_cluster(ce)
    result = reconcile_node_pool(ce, {**pool_params(None), "cluster_name": "hub"}, check_mode=False,
                                 availability_domains=lambda: ADS)
    assert result["changed"] and result["node_pool"]["cluster_id"] == cluster["id"]


def test_kubeconfig_absent_needs_no_api(tmp_path):
    dest = tmp_path / "hub.kubeconfig"
    dest.write_text("apiVersion: v1\n")
    params = {"dest": str(dest), "state": "absent"}
    checked = reconcile_kubeconfig(None, params, check_mode=True, script_source=b"x")
    assert checked["changed"] and dest.exists()
    assert checked["diff"] == {"before": {"path": str(dest)}, "after": None}
    assert reconcile_kubeconfig(None, params, check_mode=False, script_source=b"x")["changed"]
    assert not dest.exists()
    again = reconcile_kubeconfig(None, params, check_mode=False, script_source=b"x")
    assert not again["changed"] and again["diff"]["before"] is None
