"""Test-wide set-up: import the checkout as ansible_collections.multicluster.gitops."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".cache" / "collections"
_link = COLLECTIONS / "ansible_collections" / "multicluster" / "gitops"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../..", _link)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The real CRDs of the engines the collection drives (Argo CD, Kyverno, CAPI, ...), next to the checkout.
# $MCG_CRD_DIR, else the cache scripts/setup.sh fills from upstream (kubemu/crds.lock.json), else ../shared/crds.
_CACHED_CRDS = ROOT / ".cache" / "crds"
CRD_DIR = Path(os.environ.get("MCG_CRD_DIR") or (
    _CACHED_CRDS if (_CACHED_CRDS / "cluster.x-k8s.io_clusters.yaml").exists() else ROOT.parent / "shared" / "crds"))


def skip_module_without_capi_crd() -> None:
    """Skip the calling test module (at import) when CRD_DIR holds no Cluster API Cluster CRD."""
    if not (CRD_DIR / "cluster.x-k8s.io_clusters.yaml").exists():
        pytest.skip(f"no Cluster API CRD in {CRD_DIR}: set MCG_CRD_DIR", allow_module_level=True)


# The emulated Kubernetes API: fixtures kube_hub, kube_hub_kubeconfig, kube_server_factory.
pytest_plugins = ["kubemu.pytest_plugin"] if (ROOT / "kubemu" / "pytest_plugin.py").exists() else []
# Real engines built from Go modules (python -m realengines build): fixtures real_hub, real_server_factory.
if (ROOT / "realengines" / "pytest_plugin.py").exists():
    pytest_plugins.append("realengines.pytest_plugin")
