"""Real Argo CD v3.2.3 ApplicationSet controller against a real API server.

The binary comes from ``python -m realengines build argocd`` (``engines/argocd``: the controller's
own cobra command, cmd/argocd-applicationset-controller/commands @ v3.2.3). Usage::

    appset = ApplicationSetController(server).start()   # server: a started kube.KubeAPIServer
    appset.logs                                          # argocd-applicationset-controller.log
    appset.stop()

``start()`` gives it what the Argo CD chart would for an ApplicationSet-only test: the CRDs of the
release (``shared/crds/engines/argo-cd-v3.2.3``), the ``argocd`` namespace, ``argocd-cm`` and
``argocd-secret`` (labelled ``app.kubernetes.io/part-of: argocd``, the label Argo CD's settings
manager selects on). The cluster and list generators need no repo server (only the git, SCM and
plugin generators call it), so ``--argocd-repo-server`` points at a closed port. The controller runs
with the admin kubeconfig (``--kubeconfig`` for its own client, ``KUBECONFIG`` for
controller-runtime's ``GetConfigOrDie``), ``--namespace argocd``, leader election off, every
listening port a free one on 127.0.0.1, and ``--enable-progressive-syncs`` (RollingSync) unless
told otherwise. Ready when the manager logs that the controller's workers started (the command
registers no probe checks).
"""
from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from .build import binary, missing
from .crds import default_crd_dir, install_crds
from .kube import EngineError, KubeAPIServer, _kill_group, _tail, free_port

TAG = "argo-cd-v3.2.3"
NAMESPACE = "argocd"
BINARY = "argocd-applicationset-controller"
PART_OF = {"app.kubernetes.io/part-of": "argocd"}


class ApplicationSetController:
    """The ApplicationSet controller for one started ``KubeAPIServer``."""

    def __init__(self, server: KubeAPIServer, *, namespace: str = NAMESPACE, progressive_syncs: bool = True,
                 crd_dir: str | os.PathLike[str] | None = None, startup_timeout: float = 120) -> None:
        self.server = server
        self.namespace = namespace
        self.progressive_syncs = progressive_syncs
        self.crd_dir = Path(crd_dir) if crd_dir else default_crd_dir(TAG)
        self.startup_timeout = startup_timeout
        self.state_dir = server.state_dir / "argocd"
        self.process: subprocess.Popen[bytes] | None = None
        self.probe_url = ""

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs / f"{BINARY}.log"

    def start(self) -> "ApplicationSetController":
        """Install the CRDs and settings, start the controller, wait until /readyz answers ok."""
        reason = missing("argocd")
        if reason:
            raise EngineError(reason)
        if not self.crd_dir.is_dir():
            raise EngineError(f"Argo CD CRDs not found in {self.crd_dir} (set MCG_ENGINE_CRD_DIR)")
        self.logs.mkdir(parents=True, exist_ok=True)
        install_crds(self.server, [self.crd_dir])
        self._prepare_namespace()
        probe = free_port()
        self.probe_url = f"http://127.0.0.1:{probe}"
        argv = [
            str(binary(BINARY)),
            f"--kubeconfig={self.server.kubeconfig_path}", f"--namespace={self.namespace}",
            f"--metrics-addr=127.0.0.1:{free_port()}", f"--probe-addr=127.0.0.1:{probe}",
            f"--webhook-addr=127.0.0.1:{free_port()}",
            f"--argocd-repo-server=127.0.0.1:{free_port()}",
            "--enable-leader-election=false", "--logformat=text", "--loglevel=debug",
            f"--enable-progressive-syncs={'true' if self.progressive_syncs else 'false'}",
        ]
        env = dict(os.environ, KUBECONFIG=str(self.server.kubeconfig_path))
        log = self.log_file.open("ab")
        log.write((" ".join(argv) + "\n").encode())
        log.flush()
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=self.state_dir, env=env, start_new_session=True)
        log.close()
        try:
            self._wait(self._workers_started)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the controller (its process group). Idempotent."""
        if self.process is not None:
            _kill_group(self.process.pid, self.process)
            self.process = None

    def __enter__(self) -> "ApplicationSetController":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def healthy(self) -> bool:
        return self.process is not None and self.process.poll() is None and self._workers_started()

    def _workers_started(self) -> bool:
        """The manager logged that the applicationset controller's workers run.

        The command registers no healthz/readyz checks (cmd/argocd-applicationset-controller/commands
        @ v3.2.3), so controller-runtime's probe server answers 404 there; the log line is the signal.
        """
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return False
        return any("Starting workers" in line and "controller=applicationset" in line for line in text.splitlines())

    def _prepare_namespace(self) -> None:
        self._ensure("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": self.namespace}})
        self._ensure(f"/api/v1/namespaces/{self.namespace}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "namespace": self.namespace, "labels": PART_OF}, "data": {}})
        self._ensure(f"/api/v1/namespaces/{self.namespace}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "argocd-secret", "namespace": self.namespace, "labels": PART_OF},
            "stringData": {"server.secretkey": secrets.token_urlsafe(32)}})

    def _ensure(self, collection: str, obj: dict[str, Any]) -> None:
        status, body = self.server.request("POST", collection, obj)
        if status not in (200, 201, 409):
            raise EngineError(f"could not create {obj['kind']} {obj['metadata']['name']} ({status}): "
                              f"{body.get('message') if isinstance(body, dict) else body}")

    def _wait(self, check) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EngineError(f"{BINARY} exited with {self.process.returncode}; "
                                  f"last lines of {self.log_file}:\n{_tail(self.log_file)}")
            if check():
                return
            time.sleep(0.25)
        raise EngineError(f"{BINARY} not ready after {self.startup_timeout:.0f}s; "
                          f"last lines of {self.log_file}:\n{_tail(self.log_file)}")
