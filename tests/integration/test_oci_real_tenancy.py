"""Smoke test against a real OCI tenancy; skipped unless OCI credentials are configured.

Read-only: it authenticates with the collection's client factory and lists clusters and VCNs in
MCG_OCI_COMPARTMENT_ID (default: the tenancy root), proving auth, region and IAM policies work.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

oci = pytest.importorskip("oci")

from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import (  # noqa: E402
    list_all,
    oci_client,
    oci_config,
)

pytestmark = [pytest.mark.real_engine]


def _params() -> dict:
    return {
        "auth_type": os.environ.get("OCI_CLI_AUTH", "api_key"),
        "config_file_location": os.environ.get("OCI_CLI_CONFIG_FILE") or os.environ.get("OCI_CONFIG_FILE"),
        "config_profile_name": os.environ.get("OCI_CLI_PROFILE"),
        "api_user": os.environ.get("OCI_CLI_USER"),
        "api_user_fingerprint": os.environ.get("OCI_CLI_FINGERPRINT"),
        "api_user_key_file": os.environ.get("OCI_CLI_KEY_FILE"),
        "api_user_key_content": os.environ.get("OCI_CLI_KEY_CONTENT"),
        "tenancy": os.environ.get("OCI_CLI_TENANCY"),
        "region": os.environ.get("OCI_CLI_REGION"),
    }


def _configured() -> bool:
    config = Path(os.path.expanduser(_params()["config_file_location"] or "~/.oci/config"))
    return config.exists() or bool(os.environ.get("OCI_CLI_USER") and os.environ.get("OCI_CLI_TENANCY"))


@pytest.mark.skipif(not _configured(), reason="no OCI credentials: ~/.oci/config (or OCI_CLI_CONFIG_FILE) is absent "
                                              "and OCI_CLI_USER/OCI_CLI_TENANCY are unset")
def test_list_clusters_and_vcns_in_compartment():
    params = _params()
    cfg = oci_config(params)[0]
    compartment = os.environ.get("MCG_OCI_COMPARTMENT_ID") or cfg.get("tenancy")
    ce = oci_client(oci.container_engine.ContainerEngineClient, params)
    vn = oci_client(oci.core.VirtualNetworkClient, params)
    clusters = list_all(ce.list_clusters, compartment)
    vcns = list_all(vn.list_vcns, compartment_id=compartment)
    assert all(c.compartment_id == compartment for c in clusters)
    assert all(v.compartment_id == compartment for v in vcns)
