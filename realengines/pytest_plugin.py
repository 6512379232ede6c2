"""pytest fixtures: real API servers built from Go modules (``python -m realengines build kube``).

Enable with ``pytest_plugins = ["realengines.pytest_plugin"]`` (tests/conftest.py does).

* ``real_hub`` (session): a started ``KubeAPIServer`` (etcd + kube-apiserver + kube-controller-manager)
  with ``.url``, ``.kubeconfig_path``, ``.ca_path``, ``.admin_client_cert``, ``.admin_token`` and
  ``.api_client()`` (admin ``kubernetes`` client).
* ``real_server_factory``: ``factory(name, controller_manager=False, **kwargs) -> started KubeAPIServer``
  (extra API servers, e.g. a workload cluster), each stopped after the test.
* ``real_capi`` (session): the four Cluster API v1.12.5 managers (core, kubeadm bootstrap, kubeadm
  control plane, CAPD with its in-memory backend) on ``real_hub`` (``realengines.capi.CapiManagers``:
  ``.server``, ``.running``, ``.log(binary)``). CAPD's in-memory backend has fixed ports (19000,
  20000+), so one CAPD runs per machine: under xdist the workers take turns (a file lock).
* ``capd_exclusive()``: a context manager holding CAPD's fixed in-memory ports for a whole set started
  inside it (``realengines.stack.up``), pausing this process's ``real_capi`` if it runs.
* ``require_real_engines(component)``: skip with the reason when the component's binaries are not
  built; fail instead when the component is required: ``MCG_ENGINES_REQUIRED=1`` (every component)
  or a comma list of components (scripts/test.sh sets the ones that built when CI=true).

Runs live under ``.cache/engines/run/pytest-<name>[-<xdist worker>]``, so they never touch a server
started with ``python -m realengines up``.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Callable, Iterator

import pytest

from . import build
from .crds import missing_crds
from .kube import EngineError, KubeAPIServer

ServerFactory = Callable[..., KubeAPIServer]


def require_real_engines(component: str = "kube") -> None:
    """Skip (or, with MCG_ENGINES_REQUIRED=1, fail) when ``component`` is not built.

    A component whose release CRDs cannot be found is skipped with the reason even when required: the
    CRDs are release files outside the checkout (``missing_crds``), not something a build makes.
    """
    reason = build.missing(component)
    if reason:
        if required(component):
            pytest.fail(f"MCG_ENGINES_REQUIRED={os.environ['MCG_ENGINES_REQUIRED']} but {reason}", pytrace=False)
        pytest.skip(reason)
    reason = missing_crds(component)
    if reason:
        pytest.skip(reason)


def required(component: str) -> bool:
    """Whether MCG_ENGINES_REQUIRED asks for ``component`` ("1": all; else a comma list of components)."""
    value = os.environ.get("MCG_ENGINES_REQUIRED", "").strip()
    return value == "1" or component in {c.strip() for c in value.split(",") if c.strip()}


def run_name(name: str) -> str:
    """The run directory name of a test server: ``pytest-<name>`` plus the xdist worker id."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"pytest-{name}-{worker}" if worker else f"pytest-{name}"


def start_server(name: str, **kwargs) -> KubeAPIServer:
    """Start a real API server for a test, skipping/failing as ``require_real_engines`` does."""
    require_real_engines("kube")
    try:
        return KubeAPIServer(run_name(name), **kwargs).start()
    except EngineError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def real_hub() -> Iterator[KubeAPIServer]:
    server = start_server("hub")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def real_server_factory() -> Iterator[ServerFactory]:
    started: list[KubeAPIServer] = []

    def factory(name: str, controller_manager: bool = False, **kwargs) -> KubeAPIServer:
        server = start_server(name, controller_manager=controller_manager, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in reversed(started):
        server.stop()


# The real_capi of this process while it holds the CAPD lock (see capd_exclusive).
_ACTIVE_CAPI: list["CapiManagers"] = []


@contextlib.contextmanager
def capd_exclusive() -> Iterator[None]:
    """Hold CAPD's fixed in-memory ports (127.0.0.1:19000 and 20000+) for a CAPD started inside the block.

    Across processes (xdist workers) a file lock makes them take turns. When this process's ``real_capi``
    holds the lock already (locking again would wait for ourselves), its managers are stopped for the block
    and started again after it, on the same hub (their in-memory workload clusters are lost: CAPD keeps them
    in its memory).
    """
    if _ACTIVE_CAPI:
        managers = _ACTIVE_CAPI[0]
        managers.stop()
        try:
            yield
        finally:
            managers.start()
        return
    build.CACHE.mkdir(parents=True, exist_ok=True)
    with (build.CACHE / "capd-inmemory.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # CAPD's in-memory ports are fixed: one CAPD at a time
        yield


@pytest.fixture(scope="session")
def real_capi(request: pytest.FixtureRequest) -> Iterator["CapiManagers"]:
    from .capi import CapiError, CapiManagers

    require_real_engines("capi")
    hub = request.getfixturevalue("real_hub")
    with capd_exclusive():
        try:
            managers = CapiManagers(hub, name=run_name("capi")).start()
        except (CapiError, EngineError) as err:
            pytest.fail(str(err), pytrace=False)
        _ACTIVE_CAPI.append(managers)
        try:
            yield managers
        finally:
            _ACTIVE_CAPI.remove(managers)
            managers.stop()


@pytest.fixture(scope="session")
def real_kyverno(real_hub: KubeAPIServer):
    """Kyverno v1.18.2 (admission + background controllers) running against ``real_hub``.

    Skips (fails with MCG_ENGINES_REQUIRED=1) when ``python -m realengines build kyverno`` has not run.
    """
    from .kyverno import Kyverno

    require_real_engines("kyverno")
    yield from _running(Kyverno(real_hub))


@pytest.fixture(scope="session")
def real_appset(real_hub: KubeAPIServer):
    """Argo CD v3.2.3's ApplicationSet controller (progressive syncs on) running against ``real_hub``.

    Skips (fails with MCG_ENGINES_REQUIRED=1) when ``python -m realengines build argocd`` has not run.
    """
    from .appset import ApplicationSetController

    require_real_engines("argocd")
    yield from _running(ApplicationSetController(real_hub))


def _running(engine):
    """Start ``engine`` (an object with start/stop), yield it, stop it; a failed start fails the test with why."""
    try:
        engine.start()
    except EngineError as err:
        engine.stop()
        pytest.fail(str(err), pytrace=False)
    try:
        yield engine
    finally:
        engine.stop()
