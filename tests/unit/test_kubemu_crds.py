"""kubemu.crds: the lock of the sandbox's CRD files, the resolver's order, the checksum check of a download.

Downloads are served by a local HTTP server on 127.0.0.1; nothing here reaches the internet."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from kubemu import crds
from kubemu.crds import CrdError, load_lock, resolve, verify

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "crds"
UPSTREAM_GIT = Path(os.environ.get("MCG_UPSTREAM_GIT", ROOT.parent / ".mirror"))
FILES = {"a.yaml": b"kind: CustomResourceDefinition\nmetadata: {name: as.example.test}\n",
         "b.yaml": b"kind: CustomResourceDefinition\nmetadata: {name: bs.example.test}\n"}


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local HTTP server serving the directory it returns (its URL second)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _lock(tmp_path: Path, base_url: str) -> Path:
    entries = [{"file": name, "repo": "example/test", "path": f"crds/{name}", "url": f"{base_url}/{name}",
                "sha256": hashlib.sha256(data).hexdigest()} for name, data in FILES.items()]
    path = tmp_path / "crds.lock.json"
    path.write_text(json.dumps({"files": entries}))
    return path


def _dir(path: Path, files: dict[str, bytes] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, data in (FILES if files is None else files).items():
        (path / name).write_bytes(data)
    return path


def _resolve(tmp_path: Path, lock: Path, **kw) -> crds.CrdSource:
    kw.setdefault("env", {})
    kw.setdefault("cache", tmp_path / "cache")
    kw.setdefault("shared", tmp_path / "shared")
    return resolve(lock_file=lock, timeout=5, **kw)


# --- the lock -------------------------------------------------------------------------------------------
def test_the_lock_pins_every_file_to_a_commit_url_with_a_checksum() -> None:
    lock = json.loads(crds.LOCK_FILE.read_text())
    assert lock["files"], lock
    for entry in lock["files"]:
        commit = lock["commits"][entry["repo"]]
        assert entry["url"] == f"https://raw.githubusercontent.com/{entry['repo']}/{commit}/{entry['path']}"
        assert entry["path"].endswith("/" + entry["file"])
        assert len(entry["sha256"]) == 64 and int(entry["sha256"], 16) >= 0


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no {SHARED} (the workspace's copy of the upstream CRD files)")
def test_the_lock_matches_the_workspace_copy_file_for_file() -> None:
    lock = load_lock()
    assert {e["file"] for e in lock} == {p.name for p in SHARED.glob("*.yaml")}
    assert verify(SHARED, lock) == ([], [])


@pytest.mark.parametrize("entry", load_lock(), ids=lambda e: e["file"])
def test_each_locked_file_is_the_upstream_file_at_its_commit(entry: dict[str, str]) -> None:
    """The lock's path and sha256 are those of the upstream git object (kubemu/crds.lock.json names each
    repository, commit and path: kubernetes-sigs/cluster-api @ ae7ff047 : core/config/crd/bases/,
    bootstrap/kubeadm/config/crd/bases/, controlplane/kubeadm/config/crd/bases/; oracle/cluster-api-provider-oci
    @ f917d3c5 : config/crd/bases/; argoproj/argo-cd @ 37ee0097 : manifests/crds/; kyverno/kyverno @ 111e07bb :
    config/crds/kyverno/; cert-manager/cert-manager @ 2d0d7f7f : deploy/crds/; kubernetes-sigs/cluster-api-operator
    @ 46918b65 and kubernetes-sigs/cluster-api-addon-provider-helm @ 8c581411 : config/crd/bases/). Read from bare
    clones under MCG_UPSTREAM_GIT (default ../.mirror, <owner>+<name>[/repo]); skipped without them."""
    commit = json.loads(crds.LOCK_FILE.read_text())["commits"][entry["repo"]]
    base = UPSTREAM_GIT / entry["repo"].replace("/", "+")
    git_dir = next((d for d in (base / "repo", base) if (d / "HEAD").exists()), None)
    if git_dir is None:
        pytest.skip(f"{entry['repo']} is not under {UPSTREAM_GIT} (set MCG_UPSTREAM_GIT)")
    proc = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{entry['path']}"], capture_output=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert hashlib.sha256(proc.stdout).hexdigest() == entry["sha256"]


# --- the order ------------------------------------------------------------------------------------------
def test_mcg_crd_dir_comes_first_even_with_a_complete_cache(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "http://127.0.0.1:9")
    _dir(tmp_path / "cache")
    mine = _dir(tmp_path / "mine", {"only.yaml": b"kind: CustomResourceDefinition\n"})
    source = _resolve(tmp_path, lock, env={"MCG_CRD_DIR": str(mine)})
    assert (source.source, source.directory, source.count) == ("MCG_CRD_DIR", str(mine), 1)


def test_an_empty_mcg_crd_dir_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "http://127.0.0.1:9")
    _dir(tmp_path / "shared")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CrdError, match=r"MCG_CRD_DIR .*empty holds no \*\.yaml CRD file"):
        _resolve(tmp_path, lock, env={"MCG_CRD_DIR": str(tmp_path / "empty")})


def test_a_complete_verified_cache_is_used_without_downloading(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "http://127.0.0.1:9")  # nothing listens there: a download would fail
    _dir(tmp_path / "cache")
    source = _resolve(tmp_path, lock)
    assert (source.source, source.count) == ("cache", 2)


def test_missing_files_are_fetched_into_the_cache_and_verified(tmp_path: Path, upstream) -> None:
    served, url = upstream
    _dir(served)
    lock = _lock(tmp_path, url)
    _dir(tmp_path / "cache", {"a.yaml": FILES["a.yaml"]})
    source = _resolve(tmp_path, lock)
    assert (source.source, source.directory, source.notes) == ("fetched", str(tmp_path / "cache"),
                                                               ["downloaded 1 file(s)"])
    assert (tmp_path / "cache" / "b.yaml").read_bytes() == FILES["b.yaml"]
    # The next time the cache is complete: no download.
    (served / "b.yaml").unlink()
    assert _resolve(tmp_path, lock).source == "cache"


def test_a_download_with_another_checksum_is_refused_and_not_written(tmp_path: Path, upstream) -> None:
    served, url = upstream
    _dir(served, {"a.yaml": FILES["a.yaml"], "b.yaml": b"kind: Something else\n"})
    lock = _lock(tmp_path, url)
    with pytest.raises(CrdError, match=r"refused b\.yaml from http://127\.0\.0\.1:\d+/b\.yaml: its sha256 is "
                                       + hashlib.sha256(b"kind: Something else\n").hexdigest()):
        _resolve(tmp_path, lock)
    assert not (tmp_path / "cache" / "b.yaml").exists()


def test_unreachable_upstream_falls_back_to_the_verified_shared_copy(tmp_path: Path, upstream) -> None:
    served, url = upstream  # serves nothing: every download is a 404
    lock = _lock(tmp_path, url)
    _dir(tmp_path / "shared")
    source = _resolve(tmp_path, lock)
    assert (source.source, source.directory, source.count) == ("shared", str(tmp_path / "shared"), 2)
    assert source.notes and source.notes[0].startswith("upstream not reachable")


def test_a_shared_copy_that_differs_from_the_lock_is_refused(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "http://127.0.0.1:9")
    _dir(tmp_path / "shared", {**FILES, "b.yaml": b"changed\n"})
    with pytest.raises(CrdError, match=r"shared holds CRD files whose sha256 differs from .*: b\.yaml"):
        _resolve(tmp_path, lock)


def test_nothing_anywhere_fails_saying_how_to_provide_them(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(CrdError) as exc:
        _resolve(tmp_path, lock)
    msg = str(exc.value)
    assert msg.startswith("No CRDs for the emulated hub: upstream not reachable (")
    for hint in ("bash scripts/setup.sh", "MCG_CRD_DIR", "MCG_SANDBOX_SCHEMALESS=1"):
        assert hint in msg, msg


def test_running_without_schemas_only_when_allowed_explicitly(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "http://127.0.0.1:9")
    for allowed in ({"allow_schemaless": True}, {"env": {"MCG_SANDBOX_SCHEMALESS": "1"}}):
        source = _resolve(tmp_path, lock, **allowed)
        assert (source.source, source.directory, source.count) == ("none", None, 0)
        assert source.describe().startswith("no CRD schemas: objects are NOT validated (")
