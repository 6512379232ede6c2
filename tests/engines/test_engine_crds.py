"""Where the real-engine tier finds the release CRDs of each engine, and what it says when they are missing."""
from __future__ import annotations

from pathlib import Path

import pytest

from realengines import appset, capi, kyverno
from realengines.pytest_plugin import missing_crds


ENGINE_TAGS = [("capi", capi.CRD_TAG), ("kyverno", kyverno.TAG), ("argocd", appset.TAG)]


@pytest.mark.parametrize(("component", "tag"), ENGINE_TAGS)
def test_missing_release_crds_are_named_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     component: str, tag: str) -> None:
    monkeypatch.setenv("MCG_ENGINE_CRD_DIR", str(tmp_path / "absent"))
    reason = missing_crds(component)
    assert reason is not None
    assert tag in reason and str(tmp_path / "absent") in reason and "MCG_ENGINE_CRD_DIR" in reason


def test_a_folder_without_the_cluster_crd_is_not_taken_for_cluster_api(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MCG_ENGINE_CRD_DIR", str(tmp_path))
    assert missing_crds("capi") is not None
    (tmp_path / "cluster.x-k8s.io_clusters.yaml").write_text("{}\n")
    assert missing_crds("capi") is None


@pytest.mark.parametrize("component", ["kube", "caaph-values"])
def test_engines_without_crds_need_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, component: str) -> None:
    monkeypatch.setenv("MCG_ENGINE_CRD_DIR", str(tmp_path / "absent"))
    assert missing_crds(component) is None
