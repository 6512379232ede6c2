"""Fixtures shared by the integration tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def hub(kube_require_crds: Path, kube_server_factory, tmp_path: Path):
    """A fresh emulated hub with every CRD, and the path of its admin kubeconfig (skipped without CRDs)."""
    server = kube_server_factory("hub", crd_dir=kube_require_crds)
    return server, server.write_kubeconfig(tmp_path / "hub.kubeconfig")
