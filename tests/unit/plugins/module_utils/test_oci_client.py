"""The OCI client factory: auth precedence, caching, error wrapping, retries and work-request waits."""
from __future__ import annotations

import pytest

oci = pytest.importorskip("oci")

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from oci.container_engine import models as ce  # noqa: E402

from ansible_collections.multicluster.gitops.plugins.module_utils import _oci_client as oc  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import (  # noqa: E402
    ApiError,
    ConfigError,
    ResourceTimeout,
)
from tests.unit.oci_stubs import ContainerEngineStub, response  # noqa: E402

USER = "ocid1.user.oc1..aaaauser"
TENANCY = "ocid1.tenancy.oc1..aaaatenancy"
FP = "11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff"
ENV_VARS = [name for spec in oc.OCI_AUTH_ARG_SPEC.values() for name in spec.get("fallback", (None, []))[1]]


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    monkeypatch.setattr(oc, "_sleep", lambda s: None)
    monkeypatch.setattr(oci.waiter.time, "sleep", lambda s: None)
    oc._CLIENT_CACHE.clear()


@pytest.fixture(scope="module")
def key_pem(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    path = tmp_path_factory.mktemp("oci") / "key.pem"
    path.write_bytes(pem)
    return path


def write_config(tmp_path, key_file, *, profile="DEFAULT", region="eu-frankfurt-1"):
    path = tmp_path / "config"
    path.write_text(f"[{profile}]\nuser={USER}\nfingerprint={FP}\ntenancy={TENANCY}\n"
                    f"region={region}\nkey_file={key_file}\n")
    return path


def validated(params: dict, **env) -> dict:
    """Options as AnsibleModule would see them (defaults and environment fallbacks applied)."""
    result = ArgumentSpecValidator(oc.OCI_AUTH_ARG_SPEC).validate(params)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_config_file_profile_is_read(tmp_path, key_pem):
    cfg_file = write_config(tmp_path, key_pem, profile="hub")
    cfg, signer = oc.oci_config(validated({"config_file_location": str(cfg_file), "config_profile_name": "hub"}))
    assert signer is None
    assert (cfg["user"], cfg["region"], cfg["key_file"]) == (USER, "eu-frankfurt-1", str(key_pem))


def test_explicit_beats_environment_beats_file(tmp_path, key_pem, monkeypatch):
    cfg_file = write_config(tmp_path, key_pem)
    monkeypatch.setenv("OCI_CLI_CONFIG_FILE", str(cfg_file))
    monkeypatch.setenv("OCI_CLI_REGION", "us-ashburn-1")
    cfg = oc.oci_config(validated({}))[0]
    assert cfg["region"] == "us-ashburn-1"  # environment over file
    cfg = oc.oci_config(validated({"region": "ap-tokyo-1"}))[0]
    assert cfg["region"] == "ap-tokyo-1"  # explicit over environment


def test_explicit_values_without_file(key_pem):
    cfg = oc.oci_config(validated({"api_user": USER, "api_user_fingerprint": FP, "tenancy": TENANCY,
                                   "region": "eu-frankfurt-1", "api_user_key_content": key_pem.read_text()}))[0]
    assert cfg["key_content"].startswith("-----BEGIN") and "key_file" not in cfg


def test_incomplete_auth_says_what_is_missing():
    with pytest.raises(ConfigError) as exc:
        oc.oci_config(validated({"api_user": USER}))
    assert "api_user_fingerprint" in exc.value.msg and "tenancy" in exc.value.msg
    assert "api_user_key_file or api_user_key_content" in exc.value.msg


@pytest.mark.parametrize("params, needle", [
    ({"config_profile_name": "nope"}, "'nope'"),
    ({"config_file_location": "/nonexistent/config"}, "does not exist"),
])
def test_config_file_errors(tmp_path, key_pem, params, needle):
    if "config_profile_name" in params:
        params = {**params, "config_file_location": str(write_config(tmp_path, key_pem))}
    with pytest.raises(ConfigError) as exc:
        oc.oci_config(validated(params))
    assert needle in exc.value.msg


def test_instance_principal_outside_oci_is_a_config_error(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("metadata service unreachable")
    monkeypatch.setattr(oci.auth.signers, "InstancePrincipalsSecurityTokenSigner", boom)
    with pytest.raises(ConfigError) as exc:
        oc.oci_config(validated({"auth_type": "instance_principal"}))
    assert "dynamic group" in exc.value.msg


def test_clients_are_cached_by_configuration(tmp_path, key_pem):
    params = validated({"config_file_location": str(write_config(tmp_path, key_pem))})
    a = oc.oci_client(oci.core.VirtualNetworkClient, params)
    assert oc.oci_client(oci.core.VirtualNetworkClient, dict(params)) is a
    assert oc.oci_client(oci.container_engine.ContainerEngineClient, params) is not a
    b = oc.oci_client(oci.core.VirtualNetworkClient, {**params, "region": "us-ashburn-1"})
    assert b is not a and b.base_client.endpoint.startswith("https://iaas.us-ashburn-1.")


def test_bad_key_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    params = validated({"config_file_location": str(write_config(tmp_path, bad))})
    with pytest.raises(ConfigError):
        oc.oci_client(oci.core.VirtualNetworkClient, params)


# --- calls --------------------------------------------------------------------------------------------
def test_throttling_is_retried(monkeypatch):
    sleeps = []
    monkeypatch.setattr(oc, "_sleep", sleeps.append)
    stub = ContainerEngineStub()
    stub.fail("list_clusters", status=429, code="TooManyRequests", times=2)
    assert oc.list_all(stub.list_clusters, "ocid1.compartment.x") == []
    assert [op for op, call_args in stub.calls] == ["list_clusters"] * 3
    assert sleeps == [1, 2]


def test_retries_end(monkeypatch):
    stub = ContainerEngineStub()
    stub.fail("list_clusters", status=503, code="ServiceUnavailable", times=oc.MAX_ATTEMPTS)
    with pytest.raises(ApiError) as exc:
        oc.list_all(stub.list_clusters, "c")
    assert exc.value.status == 503 and len(stub.calls) == oc.MAX_ATTEMPTS


def test_quota_exceeded_is_clear_and_carries_request_id():
    stub = ContainerEngineStub()
    stub.fail("create_cluster", status=400, code="LimitExceeded", request_id="ABC123/DEF",
              message="Quota exceeded for cluster-count")
    with pytest.raises(ApiError) as exc:
        oc.call(stub.create_cluster, ce.CreateClusterDetails(name="x", compartment_id="c"))
    err = exc.value
    assert err.request_id == "ABC123/DEF" and err.status == 400 and err.reason == "LimitExceeded"
    assert "opc-request-id: ABC123/DEF" in err.msg and "quota" in err.msg
    assert err.to_fail_kwargs()["opc_request_id"] == "ABC123/DEF"
    assert len(stub.calls) == 1  # not retried


def test_conflict_is_not_retried_but_incorrect_state_is():
    stub = ContainerEngineStub()
    stub.fail("list_clusters", status=409, code="Conflict")
    with pytest.raises(ApiError) as exc:
        oc.call(stub.list_clusters, "c")
    assert "still running" in exc.value.msg and len(stub.calls) == 1
    stub.fail("list_clusters", status=409, code="IncorrectState")
    assert oc.call(stub.list_clusters, "c").data == []


@pytest.mark.parametrize("status, code, rewritten", [
    (409, "Conflict", True),
    (404, "NotAuthorizedOrNotFound", False),
    (400, "InvalidParameter", False),
])
def test_delete_explains_only_conflicts(status, code, rewritten):
    stub = ContainerEngineStub()
    stub.fail("delete_cluster", status=status, code=code, request_id="RID-D", message="Service says no.")
    with pytest.raises(ApiError) as exc:
        oc.delete(stub.delete_cluster, "ocid1.cluster.x", what="cluster 'hub'", in_use="Delete X first.")
    err = exc.value
    assert (err.status, err.reason, err.request_id) == (status, code, "RID-D")
    assert err.body == {"code": code, "message": "Service says no."}
    if rewritten:
        assert err.msg == ("Cannot delete cluster 'hub' (ocid1.cluster.x) yet: 409 Conflict: Service says no. "
                           "Delete X first. [opc-request-id: RID-D]")
    else:
        assert err.msg.startswith(f"delete_cluster failed: {status} {code}") and "Delete X first" not in err.msg


@pytest.mark.parametrize("want, have, equal", [
    ({"a": 1, "b": None}, {"a": 1, "b": 2}, True),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1}, {"x": 2}]}, False),
    ({"a": {"x": 1}}, {"a": None}, False),
    ({"a": 1}, {"a": 2}, False),
])
def test_subset_equal(want, have, equal):
    assert oc.subset_equal(want, have) is equal


def test_tags_differ_keeps_extra_tags():
    assert not oc.tags_differ({"a": "1"}, {"a": "1", "owner": "ops"})
    assert oc.tags_differ({"a": "1"}, {"a": "2"})


# --- work requests -------------------------------------------------------------------------------------
def test_work_request_progress_is_reported():
    stub = ContainerEngineStub()
    stub.work_request_statuses = ["ACCEPTED", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    headers = stub.create_cluster(ce.CreateClusterDetails(name="x", compartment_id="c",
                                                          endpoint_config=ce.CreateClusterEndpointConfigDetails())
                                  ).headers
    progress: list = []
    wr = oc.wait_for_work_request(stub, headers["opc-work-request-id"], timeout=60, progress=progress)
    assert wr.status == "SUCCEEDED"
    assert [p["status"] for p in progress] == ["ACCEPTED", "IN_PROGRESS", "SUCCEEDED"]
    assert all(p["operation"] == "CLUSTER_CREATE" for p in progress)


def test_failed_work_request_raises_with_errors():
    stub = ContainerEngineStub()
    stub.work_request_statuses = ["IN_PROGRESS", "FAILED"]
    wr_id = stub.create_cluster(ce.CreateClusterDetails(
        name="x", compartment_id="c", endpoint_config=ce.CreateClusterEndpointConfigDetails())
    ).headers["opc-work-request-id"]
    with pytest.raises(ApiError) as exc:
        oc.wait_for_work_request(stub, wr_id, timeout=60, errors_fn=stub.list_work_request_errors)
    assert "FAILED" in exc.value.msg and "node launch failed" in exc.value.msg


def test_work_request_timeout(monkeypatch):
    stub = ContainerEngineStub()
    stub.work_request_statuses = ["IN_PROGRESS"]
    wr_id = stub.create_cluster(ce.CreateClusterDetails(
        name="x", compartment_id="c", endpoint_config=ce.CreateClusterEndpointConfigDetails())
    ).headers["opc-work-request-id"]
    clock = iter(range(0, 10_000, 50))
    monkeypatch.setattr(oci.waiter.time, "time", lambda: next(clock))
    with pytest.raises(ResourceTimeout) as exc:
        oc.wait_for_work_request(stub, wr_id, timeout=120, progress=[])
    assert "wait_timeout" in exc.value.msg


def test_response_helper_is_real_sdk_response():
    assert isinstance(response([]), oci.response.Response)
