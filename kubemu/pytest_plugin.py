"""pytest fixtures: emulated API servers on their own threads.

Enable with ``pytest_plugins = ["kubemu.pytest_plugin"]``.  A blocking client (``kubernetes``,
``ansible-playbook``) can then talk to them from the test's thread without deadlocking.

* ``kube_crd_dir`` (session): the CRD directory (``$MCG_CRD_DIR``, the cache ``.cache/crds`` or
  ``<rootdir>/../shared/crds``, the last two verified against ``kubemu/crds.lock.json``; see kubemu.crds)
  or None when absent; override it in a conftest to point elsewhere.
* ``kube_require_crds``: skips the test, with the reason, when there is no CRD directory.
* ``kube_hub`` (session): a started server named ``hub`` with every CRD of ``kube_crd_dir``.
* ``kube_hub_kubeconfig`` (session): path of an admin kubeconfig for ``kube_hub``.
* ``kube_server_factory``: ``factory(name, crd_dir=None, tls=True) -> started KubeServer``,
  each stopped after the test.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .server import KubeServer

ServerFactory = Callable[..., KubeServer]


@pytest.fixture(scope="session")
def kube_crd_dir(pytestconfig: pytest.Config) -> Path | None:
    """The sandbox's CRD source without downloading (kubemu.crds: $MCG_CRD_DIR, .cache/crds, ../shared/crds)."""
    from .crds import CrdError, resolve

    root = Path(pytestconfig.rootpath)
    try:
        source = resolve(cache=root / ".cache" / "crds", shared=root.parent / "shared" / "crds", download=False,
                         allow_schemaless=False)
    except CrdError as e:
        _CRD_PROBLEM[:] = [str(e)]
        return None
    return Path(source.directory) if source.directory else None


# Why kube_crd_dir found no CRDs (the resolver's message), for the skip reason of kube_require_crds.
_CRD_PROBLEM: list[str] = []


@pytest.fixture
def kube_require_crds(kube_crd_dir: Path | None) -> Path:
    if kube_crd_dir is None:
        pytest.skip("no CRD directory: set MCG_CRD_DIR to the directory holding the engines' CRD YAML"
                    + (f" ({_CRD_PROBLEM[0]})" if _CRD_PROBLEM else ""))
    return kube_crd_dir


@pytest.fixture(scope="session")
def kube_hub(kube_crd_dir: Path | None) -> Iterator[KubeServer]:
    server = KubeServer(name="hub", crd_dir=kube_crd_dir, tls=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kube_hub_kubeconfig(kube_hub: KubeServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube_hub.write_kubeconfig(tmp_path_factory.mktemp("kubemu") / "hub.kubeconfig")


@pytest.fixture
def kube_server_factory() -> Iterator[ServerFactory]:
    started: list[KubeServer] = []

    def factory(name: str, crd_dir: str | os.PathLike[str] | None = None, tls: bool = True) -> KubeServer:
        server = KubeServer(name=name, crd_dir=crd_dir, tls=tls).start()
        started.append(server)
        return server

    yield factory
    for server in reversed(started):
        server.stop()
