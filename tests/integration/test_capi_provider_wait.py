"""The provider phase of capi_workloads waits, in one task, until every Cluster API Operator provider reports
Ready: a provider that never does fails the run, whichever of them it is."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ansible import run_playbook
from tests.integration.test_role_capi_workloads import _vars

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATOR = "operator.cluster.x-k8s.io/v1alpha2"
PROVIDERS = [("CoreProvider", "cluster-api", "capi-system"), ("BootstrapProvider", "kubeadm", "capi-kubeadm-bootstrap-system"),
             ("ControlPlaneProvider", "kubeadm", "capi-kubeadm-control-plane-system"),
             ("InfrastructureProvider", "oci", "cluster-api-provider-oci-system")]
READY = {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "",
                         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


def _providers_phase(tmp_path: Path, kubeconfig: Path):
    extra = {**_vars([]), "capi_workloads_provider_wait": True, "capi_workloads_provider_wait_timeout": 3,
             "capi_workloads_caaph_enabled": False}
    return run_playbook(tmp_path, "playbooks/capi_workloads.yml", kubeconfig=kubeconfig, extra_vars=extra,
                        tags="capi_workloads_providers")


@pytest.mark.parametrize("not_ready", [None] + [provider[0] for provider in PROVIDERS])
def test_every_provider_is_awaited(hub, tmp_path: Path, not_ready: str | None) -> None:
    server, kubeconfig = hub
    first = _providers_phase(tmp_path / "apply", kubeconfig)  # creates them; nothing marks them Ready
    assert first.rc != 0, first.stdout
    for kind, name, namespace in PROVIDERS:
        assert server.get(OPERATOR, kind, name, namespace) is not None, kind
        if kind != not_ready:
            server.patch_status(OPERATOR, kind, name, namespace, READY)
    result = _providers_phase(tmp_path / "wait", kubeconfig)
    if not_ready is None:
        assert result.rc == 0, result.stdout[-4000:]
        assert result.changed() == 0, result.stdout[-4000:]
    else:
        assert result.rc != 0, result.stdout[-4000:]
        assert "TASK [multicluster.gitops.capi_workloads : Wait until every provider is ready]" in result.stdout
        assert result.failed() == 1, result.stdout[-4000:]
        assert f'"{not_ready}"' in result.stdout and "Timed out waiting on resource" in result.stdout, result.stdout[-4000:]
