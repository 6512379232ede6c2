"""Real Kyverno v1.18.2 (admission controller + background controller) against a real API server.

The binaries come from ``python -m realengines build kyverno`` (``engines/kyverno``). Usage::

    kyverno = Kyverno(server).start()    # server: a started kube.KubeAPIServer
    kyverno.admission_url, kyverno.logs  # webhook server on 127.0.0.1, logs under the server's state dir
    kyverno.stop()                       # stops both controllers and removes Kyverno's webhook configurations

Both controllers run out of cluster, as kyverno's DEVELOPMENT.md ("Debugging local code") and
.vscode/launch.json @ v1.18.2 describe: ``--kubeconfig`` (the server's admin kubeconfig) and, for the
admission controller, ``--serverIP=127.0.0.1:<port>``. With ``--serverIP`` Kyverno writes URL
webhooks (``https://<serverIP><path>``, pkg/controllers/webhook/utils.go) instead of Service ones,
puts the IP into its self-signed serving certificate (pkg/tls/keypair.go) and skips its Deployment
checks (IsDebug in pkg/utils/runtime/utils.go). ``start()`` first gives it what the Helm chart
would: the CRDs (``shared/crds/engines/kyverno-v1.17.2``: see ``TAG``), the namespace, the
``kyverno`` ConfigMap (the chart's cluster-wide default resource filters and webhook namespace
selector) and the ``kyverno-metrics`` ConfigMap, and the environment variables the pods get
(cmd/internal/check.go requires KYVERNO_NAMESPACE, KYVERNO_SERVICEACCOUNT_NAME, KYVERNO_DEPLOYMENT,
KYVERNO_POD_NAME, INIT_CONFIG and METRICS_CONFIG). Kyverno creates its CA and TLS Secrets itself.

Both controllers use the admin kubeconfig (the chart's ClusterRoles are not installed); the policy
webhook still checks, with SubjectAccessReviews, that the background controller's service account
(``--backgroundServiceAccountName``) may write what a generate rule generates, so RBAC written for
that service account is exercised. Every listening port is a free port on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .build import binary, missing
from .crds import default_crd_dir, install_crds
from .kube import EngineError, KubeAPIServer, _kill_group, free_port, wait_until

# CRD folder. The engine is v1.18.2; its config/crds differ from v1.17.2's only in description text
# (`git diff v1.17.2 v1.18.2 -- config/crds` in kyverno/kyverno: two "Secrets must live in the Kyverno
# namespace" descriptions), so the v1.17.2 CRDs serve the v1.18.2 controllers unchanged.
TAG = "kyverno-v1.17.2"
NAMESPACE = "kyverno"
CONFIG_MAP = "kyverno"
METRICS_CONFIG_MAP = "kyverno-metrics"
SERVICE = "kyverno-svc"
ADMISSION_SA = "kyverno-admission-controller"
BACKGROUND_SA = "kyverno-background-controller"
# Secret names of the chart (charts/kyverno/templates/admission-controller/deployment.yaml @ v1.18.2):
# <service>.<namespace>.svc.kyverno-tls-{ca,pair}.
CA_SECRET = f"{SERVICE}.{NAMESPACE}.svc.kyverno-tls-ca"
TLS_SECRET = f"{SERVICE}.{NAMESPACE}.svc.kyverno-tls-pair"
# Leases of the leader-elected parts (cmd/kyverno/main.go, cmd/background-controller/main.go).
ADMISSION_LEASE = "kyverno"
BACKGROUND_LEASE = "kyverno-background-controller"
# The chart's default resourceFilters that do not name a chart object (charts/kyverno/values.yaml
# config.resourceFilters @ v1.18.2, with the Kyverno namespace prepended as excludeKyvernoNamespace does).
RESOURCE_FILTERS = (
    f"[*/*,{NAMESPACE},*]", "[Event,*,*]", "[*/*,kube-system,*]", "[*/*,kube-public,*]",
    "[*/*,kube-node-lease,*]", "[Node,*,*]", "[Node/?*,*,*]", "[APIService,*,*]", "[APIService/?*,*,*]",
    "[TokenReview,*,*]", "[SubjectAccessReview,*,*]", "[SelfSubjectAccessReview,*,*]", "[Binding,*,*]",
    "[Pod/binding,*,*]", "[ReplicaSet,*,*]", "[ReplicaSet/?*,*,*]", "[EphemeralReport,*,*]",
    "[ClusterEphemeralReport,*,*]",
)
WEBHOOK_CONFIG_LABEL = "webhook.kyverno.io/managed-by=kyverno"


class Kyverno:
    """Kyverno's admission and background controllers for one started ``KubeAPIServer``.

    Attributes set by ``start()``: ``admission_url`` (https://127.0.0.1:<port>, the webhook server),
    ``processes`` (name -> Popen), ``logs`` (directory of ``kyverno.log`` and
    ``kyverno-background-controller.log``).
    """

    def __init__(self, server: KubeAPIServer, *, crd_dir: str | os.PathLike[str] | None = None,
                 startup_timeout: float = 180, verbosity: int = 2) -> None:
        self.server = server
        self.crd_dir = Path(crd_dir) if crd_dir else default_crd_dir(TAG)
        self.startup_timeout = startup_timeout
        self.verbosity = verbosity
        self.state_dir = server.state_dir / "kyverno"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.admission_url = ""
        self.webhook_port = 0

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> "Kyverno":
        """Install what Kyverno needs, start both controllers, wait until both lead and serve.

        Raises EngineError (binaries or CRDs missing, a process exited, or not ready in time).
        """
        reason = missing("kyverno")
        if reason:
            raise EngineError(reason)
        if not self.crd_dir.is_dir():
            raise EngineError(f"Kyverno CRDs not found in {self.crd_dir} (set MCG_ENGINE_CRD_DIR)")
        self.logs.mkdir(parents=True, exist_ok=True)
        install_crds(self.server, [self.crd_dir])
        self._prepare_namespace()
        try:
            self._start_admission_controller()
            self._start_background_controller()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both controllers and delete the webhook configurations Kyverno registered. Idempotent.

        Kyverno leaves its webhook configurations behind when it stops (``--autoDeleteWebhooks`` is
        off by default); left in place they would send every later admission request to a closed port.
        """
        for name in ("kyverno-background-controller", "kyverno"):
            proc = self.processes.pop(name, None)
            if proc is not None:
                _kill_group(proc.pid, proc)
        if self.server.healthy():
            for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
                self.server.request("DELETE", f"/apis/admissionregistration.k8s.io/v1/{kind}"
                                              f"?labelSelector={WEBHOOK_CONFIG_LABEL}")

    def __enter__(self) -> "Kyverno":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def healthy(self) -> bool:
        """Both processes run and the admission controller answers its readiness probe."""
        if set(self.processes) != {"kyverno", "kyverno-background-controller"}:
            return False
        if any(p.poll() is not None for p in self.processes.values()):
            return False
        return _https_ok(f"{self.admission_url}/health/readiness")

    # ----------------------------------------------------------------------------- set-up
    def _prepare_namespace(self) -> None:
        self._ensure("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": NAMESPACE}})
        config = {
            "defaultRegistry": "docker.io",
            "enableDefaultRegistryMutation": "true",
            "generateSuccessEvents": "false",
            "resourceFilters": "".join(RESOURCE_FILTERS),
            "updateRequestThreshold": "1000",
            "webhooks": json.dumps({"namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "NotIn",
                "values": ["kube-system", NAMESPACE]}]}}),
        }
        for name, data in ((CONFIG_MAP, config), (METRICS_CONFIG_MAP, {})):
            self._ensure(f"/api/v1/namespaces/{NAMESPACE}/configmaps",
                         {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name, "namespace": NAMESPACE}, "data": data})

    def _ensure(self, collection: str, obj: dict[str, Any]) -> None:
        status, body = self.server.request("POST", collection, obj)
        if status not in (200, 201, 409):
            raise EngineError(f"could not create {obj['kind']} {obj['metadata']['name']} ({status}): "
                              f"{body.get('message') if isinstance(body, dict) else body}")

    def _env(self, service_account: str, pod: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KYVERNO_NAMESPACE": NAMESPACE,
            "KYVERNO_SERVICEACCOUNT_NAME": service_account,
            "KYVERNO_DEPLOYMENT": service_account,
            "KYVERNO_POD_NAME": pod,
            "KYVERNO_SVC": SERVICE,
            "INIT_CONFIG": CONFIG_MAP,
            "METRICS_CONFIG": METRICS_CONFIG_MAP,
        })
        env.pop("KUBECONFIG", None)
        return env

    def _common_args(self) -> list[str]:
        return [f"--kubeconfig={self.server.kubeconfig_path}", "--metricsHost=127.0.0.1",
                f"--metricsPort={free_port()}", "--controllerRuntimeMetricsAddress=0",
                "--disableLogColor", f"-v={self.verbosity}"]

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        log.write((" ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.state_dir, env=env, start_new_session=True)
        log.close()
        self.processes[name] = proc
        return proc

    def _start_admission_controller(self) -> None:
        self.webhook_port = free_port()
        self.admission_url = f"https://127.0.0.1:{self.webhook_port}"
        self._spawn("kyverno", [
            str(binary("kyverno")), *self._common_args(),
            f"--serverIP=127.0.0.1:{self.webhook_port}",
            "--webhookServerHost=127.0.0.1", f"--webhookServerPort={self.webhook_port}",
            f"--caSecretName={CA_SECRET}", f"--tlsSecretName={TLS_SECRET}",
            f"--backgroundServiceAccountName=system:serviceaccount:{NAMESPACE}:{BACKGROUND_SA}",
            "--admissionReports=false",
        ], self._env(ADMISSION_SA, "kyverno-admission-controller-local"))
        self._wait("kyverno", lambda: self._leads(ADMISSION_LEASE))
        self._wait("kyverno", lambda: _https_ok(f"{self.admission_url}/health/readiness"))
        # the policy webhook: without it a ClusterPolicy would be stored unvalidated and unwatched
        self._wait("kyverno", lambda: self._webhook_registered("kyverno-policy-validating-webhook-cfg"))

    def _start_background_controller(self) -> None:
        self._spawn("kyverno-background-controller", [
            str(binary("kyverno-background-controller")), *self._common_args(),
        ], self._env(BACKGROUND_SA, "kyverno-background-controller-local"))
        self._wait("kyverno-background-controller", lambda: self._leads(BACKGROUND_LEASE))

    # ----------------------------------------------------------------------------- checks
    def _leads(self, lease: str) -> bool:
        status, body = self.server.request(
            "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{lease}")
        return status == 200 and bool(body.get("spec", {}).get("holderIdentity"))

    def _webhook_registered(self, name: str) -> bool:
        status, body = self.server.request(
            "GET", f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{name}")
        if status != 200:
            return False
        urls = [(w.get("clientConfig") or {}).get("url", "") for w in body.get("webhooks") or []]
        return bool(urls) and all(u.startswith(self.admission_url + "/") for u in urls)

    def _wait(self, name: str, check) -> None:
        wait_until(self.processes, self.logs, name, check, timeout=self.startup_timeout, interval=0.5)


def _https_ok(url: str) -> bool:
    """GET ``url`` (Kyverno's self-signed certificate is not verified: a health probe only)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=3, context=ctx) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False
