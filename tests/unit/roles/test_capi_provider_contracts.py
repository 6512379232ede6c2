"""Role capi_workloads: the pinned Cluster API Operator accepts the contract of every pinned provider.

The record is roles/capi_workloads/vars/provider_contracts.yml (each row names its upstream source);
the pins are read from roles/capi_workloads/defaults/main.yml, so a pin changed without re-reading the
upstream contract, or a set the operator would refuse, fails here before a real hub does.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

ROLE = ROOT / "roles" / "capi_workloads"


def _defaults() -> dict[str, Any]:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def _record() -> dict[str, Any]:
    return yaml.safe_load((ROLE / "vars" / "provider_contracts.yml").read_text())


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def refused(pins: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """Providers the operator of `pins` would refuse: 'variable: contract not in accepted'."""
    operator = "v" + str(pins["capi_workloads_operator_chart_version"])
    accepted = {o["operator"]: o["accepts"] for o in record["_capi_workloads_operator_contracts"]}
    assert operator in accepted, f"no record of the contracts operator {operator} accepts"
    return [f"{row['variable']}: {row['contract']} not in {accepted[operator]}"
            for row in record["_capi_workloads_provider_contracts"]
            if row["contract"] not in accepted[operator]]


def test_the_record_holds_the_pinned_versions() -> None:
    """Upstream: kubernetes-sigs/cluster-api @ v1.12.11 : metadata.yaml; oracle/cluster-api-provider-oci
    @ v0.24.0 : metadata.yaml; kubernetes-sigs/cluster-api-addon-provider-helm @ v0.6.2 : metadata.yaml
    (the release series of each pin gives its contract; the record must describe the pinned version)."""
    defaults = _defaults()
    rows = _record()["_capi_workloads_provider_contracts"]
    assert {r["variable"] for r in rows} == {
        "capi_workloads_capi_version", "capi_workloads_kubeadm_bootstrap_version",
        "capi_workloads_kubeadm_control_plane_version", "capi_workloads_capoci_version", "capi_workloads_caaph_version"}
    wrong = {r["variable"]: (r["version"], defaults[r["variable"]]) for r in rows if r["version"] != defaults[r["variable"]]}
    assert wrong == {}, "pin changed without re-reading its contract (record, default)"
    assert all(" @ " in r["source"] and r["version"] in r["source"] for r in rows)


def test_the_pinned_operator_accepts_every_pinned_provider() -> None:
    """Upstream: kubernetes-sigs/cluster-api-operator @ v0.28.0 : internal/controller/phase_load.go
    (validateRepoCAPIVersion accepts a release series whose contract is v1beta1 or v1beta2, per
    provider: CAPOCI's v1beta1 next to a v1beta2 core is accepted) and Makefile (chart version =
    release tag without 'v')."""
    assert refused(_defaults(), _record()) == []


def test_the_old_pins_are_refused() -> None:
    """Upstream: kubernetes-sigs/cluster-api-operator @ v0.22.0 : internal/controller/phases.go accepts only
    v1alpha4/v1beta1, and kubernetes-sigs/cluster-api @ v1.11.2 : metadata.yaml declares v1beta2 for 1.11:
    the former pin set (chart 0.22.0 with CAPI v1.11.2) could never install the core provider."""
    record = _record()
    record["_capi_workloads_provider_contracts"] = [
        {**r, "contract": "v1beta2"} if r["variable"] == "capi_workloads_capi_version" else r
        for r in record["_capi_workloads_provider_contracts"]]
    problems = refused({**_defaults(), "capi_workloads_operator_chart_version": "0.22.0"}, record)
    assert "capi_workloads_capi_version: v1beta2 not in ['v1alpha4', 'v1beta1']" in problems


def test_all_providers_build_on_one_cluster_api_minor() -> None:
    """Upstream: kubernetes-sigs/cluster-api-operator @ v0.28.0 : go.mod (cluster-api v1.12.10),
    oracle/cluster-api-provider-oci @ v0.24.0 : go.mod (v1.12.3), kubernetes-sigs/cluster-api-addon-provider-helm
    @ v0.6.2 : go.mod (v1.12.4): all on the minor of the pinned core provider."""
    defaults = _defaults()
    assert _minor(defaults["capi_workloads_capi_version"]) == "1.12"
    assert defaults["capi_workloads_kubeadm_bootstrap_version"] == defaults["capi_workloads_capi_version"]
    assert defaults["capi_workloads_kubeadm_control_plane_version"] == defaults["capi_workloads_capi_version"]
    assert str(defaults["capi_workloads_operator_chart_version"]) == "0.28.0"


def test_the_default_workload_kubernetes_is_supported_by_the_pinned_cluster_api() -> None:
    """Upstream: kubernetes-sigs/cluster-api @ v1.12.11 : docs/book/src/reference/versions.md (the core
    provider table: v1.12 supports workload clusters on Kubernetes v1.29 to v1.35)."""
    defaults = _defaults()
    support = _record()["_capi_workloads_workload_kubernetes"]
    assert support["capi_minor"] == "v" + _minor(defaults["capi_workloads_capi_version"])
    version = defaults["capi_workloads_cluster_defaults"]["kubernetes_version"]
    assert "v" + _minor(version) in support["minors"], version


@pytest.mark.parametrize("row", _record()["_capi_workloads_provider_contracts"], ids=lambda r: r["variable"])
def test_every_row_is_a_known_contract(row: dict[str, Any]) -> None:
    """Upstream: kubernetes-sigs/cluster-api @ v1.12.11 : metadata.yaml (contracts are v1alpha4, v1beta1, v1beta2)."""
    assert row["contract"] in {"v1alpha4", "v1beta1", "v1beta2"}
