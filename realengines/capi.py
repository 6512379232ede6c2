"""Cluster API on a real API server: the four managers built from kubernetes-sigs/cluster-api v1.12.5.

``python -m realengines build capi`` builds ``capi-manager`` (core), ``capi-kubeadm-bootstrap``,
``capi-kubeadm-control-plane`` and ``capd-manager`` (CAPD; its in-memory "dev" backend serves
``DevCluster``/``DevMachine`` with ``spec.backend.inMemory`` and runs fake workload API servers
in-process). Usage::

    capi = CapiManagers(server).start()   # server: a started realengines.kube.KubeAPIServer
    ...                                    # Cluster + KubeadmControlPlane + DevCluster + DevMachineTemplate
    capi.stop()

``start()`` does what clusterctl + cert-manager would do in a real management cluster, on 127.0.0.1:

* a CA and a serving certificate (IP SAN 127.0.0.1) shared by the four webhook servers;
* the CRDs of the release (``/work/shared/crds/engines/cluster-api-v1.12.11`` by default), the
  providers' ones with the contract labels their kustomization adds, and ``spec.conversion`` pointed at
  the ``/convert`` endpoint of the manager owning the group, as envtest
  does (the release bases carry no conversion stanza);
* one Mutating- and one ValidatingWebhookConfiguration per manager, generated from ``WEBHOOKS`` (paths
  follow controller-runtime's ``/mutate-<group>-<version>-<kind>`` scheme; the table mirrors each
  manager's ``config/webhook/manifests.yaml`` at the tag) with ``url`` clientConfigs;
* the four managers, each with ``--kubeconfig`` (the hub's admin kubeconfig), its own webhook port,
  health and diagnostics addresses on 127.0.0.1, leader election off, logs under
  ``.cache/engines/run/<name>/logs``; it returns once every ``/readyz`` answers and every registered
  webhook path is served.

CAPD's in-memory backend listens on ``$POD_IP`` (set to 127.0.0.1 here): one port per workload cluster
from 20000 upwards, plus a debug port 19000 (fixed in v1.12.5: test/infrastructure/inmemory/pkg/server/
mux.go), so only one CAPD runs on a machine at a time; ``start()`` says so when 19000 is taken.
"""
from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import CACHE, binary, missing

RUN = CACHE / "run"
CAPI_VERSION = "v1.12.5"            # what engines/capi/go.mod builds
CRD_TAG = "cluster-api-v1.12.11"     # the release the roles pin; its CRDs (same API versions as v1.12.5)
INMEMORY_DEBUG_PORT = 19000          # inmemoryserver.DefaultDebugPort @ v1.12.5
INMEMORY_PORTS = (20000, 24000)      # DefaultMinPort, DefaultMaxPort @ v1.12.5
WEBHOOK_API_VERSION = "v1beta2"      # the version every CAPI v1.12 webhook is registered for
CONFIG_PREFIX = "realengines-capi"


class CapiError(RuntimeError):
    """A manager did not start or answer; the message carries the tail of its log."""


@dataclass(frozen=True)
class Webhook:
    """One admission webhook a manager serves (controller-runtime path convention)."""

    verb: str                    # "mutate" or "validate"
    group: str
    resource: str                # plural, as in the rule
    kind: str
    operations: tuple[str, ...] = ("CREATE", "UPDATE")
    subresource: str = ""        # "scale" for the KubeadmControlPlane scale validator

    @property
    def path(self) -> str:
        scale = "scale-" if self.subresource == "scale" else ""
        return f"/{self.verb}-{scale}{self.group.replace('.', '-')}-{WEBHOOK_API_VERSION}-{self.kind.lower()}"

    @property
    def name(self) -> str:
        prefix = "default" if self.verb == "mutate" else "validation"
        scale = "-scale" if self.subresource == "scale" else ""
        return f"{prefix}{scale}.{self.kind.lower()}.{self.group}"


@dataclass(frozen=True)
class Manager:
    """One manager binary, the API groups whose CRDs it converts, and the webhooks it serves."""

    binary: str
    groups: tuple[str, ...]
    webhooks: tuple[Webhook, ...]
    env: tuple[tuple[str, str], ...] = ()
    crd_labels: tuple[tuple[str, str], ...] = ()


def _hooks(verb: str, group: str, *kinds: str, operations: tuple[str, ...] = ("CREATE", "UPDATE"),
           subresource: str = "") -> tuple[Webhook, ...]:
    return tuple(Webhook(verb, group, kind.lower() + ("es" if kind.endswith("s") else "s")
                         + (f"/{subresource}" if subresource else ""), kind, operations, subresource)
                 for kind in kinds)


CORE, ADDONS, RUNTIME, IPAM = ("cluster.x-k8s.io", "addons.cluster.x-k8s.io", "runtime.cluster.x-k8s.io",
                               "ipam.cluster.x-k8s.io")
BOOTSTRAP, CONTROLPLANE, INFRA = ("bootstrap.cluster.x-k8s.io", "controlplane.cluster.x-k8s.io",
                                  "infrastructure.cluster.x-k8s.io")
CUD = ("CREATE", "UPDATE", "DELETE")
# The providers' config/crd/kustomization.yaml label their CRDs with the contract versions they implement;
# the core controllers read them to pick the apiVersion of a referenced object (internal/contract/version.go).
PROVIDER_CONTRACT_LABELS = (("cluster.x-k8s.io/v1beta1", "v1beta1"), ("cluster.x-k8s.io/v1beta2", "v1beta2"))

# From kubernetes-sigs/cluster-api @ v1.12.5 : config/webhook/manifests.yaml,
# bootstrap/kubeadm/config/webhook/manifests.yaml, controlplane/kubeadm/config/webhook/manifests.yaml,
# test/infrastructure/docker/config/webhook/manifests.yaml (kinds, operations, subresources).
MANAGERS: tuple[Manager, ...] = (
    Manager("capi-manager", (CORE, ADDONS, RUNTIME, IPAM), (
        *_hooks("mutate", CORE, "Cluster", "Machine", "MachineDeployment", "MachineHealthCheck", "MachinePool",
                "MachineSet"),
        *_hooks("mutate", ADDONS, "ClusterResourceSet"),
        *_hooks("mutate", RUNTIME, "ExtensionConfig"),
        *_hooks("validate", CORE, "Cluster", "ClusterClass", operations=CUD),
        *_hooks("validate", CORE, "Machine", "MachineDeployment", "MachineDrainRule", "MachineHealthCheck",
                "MachinePool", "MachineSet"),
        *_hooks("validate", ADDONS, "ClusterResourceSet", "ClusterResourceSetBinding"),
        *_hooks("validate", RUNTIME, "ExtensionConfig"),
        *_hooks("validate", IPAM, "IPAddress", "IPAddressClaim", operations=CUD),
    )),
    Manager("capi-kubeadm-bootstrap", (BOOTSTRAP,), (
        *_hooks("mutate", BOOTSTRAP, "KubeadmConfigTemplate"),
        *_hooks("validate", BOOTSTRAP, "KubeadmConfig", "KubeadmConfigTemplate"),
    ), crd_labels=PROVIDER_CONTRACT_LABELS),
    Manager("capi-kubeadm-control-plane", (CONTROLPLANE,), (
        *_hooks("mutate", CONTROLPLANE, "KubeadmControlPlane"),
        *_hooks("validate", CONTROLPLANE, "KubeadmControlPlane", operations=("UPDATE",), subresource="scale"),
        *_hooks("validate", CONTROLPLANE, "KubeadmControlPlane", "KubeadmControlPlaneTemplate"),
    ), crd_labels=PROVIDER_CONTRACT_LABELS),
    Manager("capd-manager", (INFRA,), (
        *_hooks("mutate", INFRA, "DevCluster", "DevClusterTemplate", "DevMachine", "DevMachineTemplate",
                "DockerCluster", "DockerClusterTemplate"),
        *_hooks("validate", INFRA, "DevCluster", "DevClusterTemplate", "DevMachine", "DevMachineTemplate",
                "DockerCluster", "DockerClusterTemplate", "DockerMachineTemplate"),
    ), env=(("POD_IP", "127.0.0.1"),), crd_labels=PROVIDER_CONTRACT_LABELS),
)


def default_crd_dir() -> Path:
    """``$MCG_ENGINE_CRD_DIR`` or ``<checkout>/../shared/crds/engines/cluster-api-v1.12.11``."""
    configured = os.environ.get("MCG_ENGINE_CRD_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "crds" / "engines" / CRD_TAG


def webhook_configurations(ports: dict[str, int], ca_pem: bytes,
                           managers: tuple[Manager, ...] = MANAGERS) -> list[dict[str, Any]]:
    """Mutating/ValidatingWebhookConfigurations for ``managers``, each webhook an https://127.0.0.1 URL."""
    ca = base64.b64encode(ca_pem).decode()
    out: list[dict[str, Any]] = []
    for manager in managers:
        for verb, kind in (("mutate", "MutatingWebhookConfiguration"), ("validate", "ValidatingWebhookConfiguration")):
            hooks = [h for h in manager.webhooks if h.verb == verb]
            if not hooks:
                continue
            out.append({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": f"{CONFIG_PREFIX}-{manager.binary}-{verb}"},
                "webhooks": [{
                    "name": hook.name,
                    "admissionReviewVersions": ["v1", "v1beta1"],
                    "clientConfig": {"url": f"https://127.0.0.1:{ports[manager.binary]}{hook.path}", "caBundle": ca},
                    "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
                    "timeoutSeconds": 10,
                    "rules": [{"apiGroups": [hook.group], "apiVersions": [WEBHOOK_API_VERSION],
                               "operations": list(hook.operations), "resources": [hook.resource]}],
                } for hook in hooks],
            })
    return out


# ----------------------------------------------------------------------------------------- certificates
def _webhook_pki(directory: Path) -> bytes:
    """Write ``tls.crt``/``tls.key`` (serving, IP SAN 127.0.0.1) and ``ca.crt`` to ``directory``; return the CA PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    valid = (now - dt.timedelta(minutes=5), now + dt.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "capi-webhook-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "capi-webhooks")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid[0]).not_valid_after(valid[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(ca_pem)
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "tls.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return ca_pem


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _crd_files(directory: Path, groups: tuple[str, ...]) -> list[Path]:
    """The release's CRD files of ``groups`` (files are named ``<group>_<plural>.yaml``)."""
    return sorted(p for p in directory.glob("*.yaml") if p.name.split("_", 1)[0] in groups)


@dataclass
class _Running:
    manager: Manager
    webhook_port: int
    health_port: int
    diagnostics_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class CapiManagers:
    """The four Cluster API managers against ``server`` (a started ``realengines.kube.KubeAPIServer``)."""

    server: Any
    name: str = "capi"
    crd_dir: Path | None = None
    startup_timeout: float = 240
    extra_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    running: dict[str, _Running] = field(default_factory=dict, init=False)
    ca_pem: bytes = field(default=b"", init=False)

    @property
    def state_dir(self) -> Path:
        return RUN / self.name

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def log(self, binary_name: str) -> Path:
        return self.logs / f"{binary_name}.log"

    # ------------------------------------------------------------------------------------- lifecycle
    def start(self) -> "CapiManagers":
        """Certificates, CRDs, webhook configurations, then the managers; return once all are ready."""
        reason = missing("capi")
        if reason:
            raise CapiError(reason)
        if _port_taken(INMEMORY_DEBUG_PORT):
            raise CapiError(f"127.0.0.1:{INMEMORY_DEBUG_PORT} is taken: CAPD {CAPI_VERSION}'s in-memory backend "
                            "needs it (another CAPD running? `python -m realengines down`, or stop it)")
        crd_dir = self.crd_dir or default_crd_dir()
        if not (crd_dir / "cluster.x-k8s.io_clusters.yaml").exists():
            raise CapiError(f"no Cluster API CRDs in {crd_dir}: set MCG_ENGINE_CRD_DIR to the "
                            f"{CRD_TAG} CRD folder")
        self.logs.mkdir(parents=True, exist_ok=True)
        certs = self.state_dir / "certs"
        self.ca_pem = _webhook_pki(certs)
        for manager in MANAGERS:
            self.running[manager.binary] = _Running(manager, _free_port(), _free_port(), _free_port(),
                                                    self.log(manager.binary))
        try:
            self._install_crds(crd_dir)
            self._register_webhooks()
            for run in self.running.values():
                self._spawn(run, certs)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        (self.state_dir / "managers.json").write_text(json.dumps({
            name: {"pid": run.process.pid if run.process else None, "webhook_port": run.webhook_port,
                   "health_port": run.health_port, "diagnostics_port": run.diagnostics_port, "log": str(run.log)}
            for name, run in self.running.items()}, indent=2))
        return self

    def stop(self) -> None:
        """SIGTERM every manager's process group, SIGKILL after 15 s; remove our webhook configurations."""
        for run in self.running.values():
            if run.process is not None and run.process.poll() is None:
                try:
                    os.killpg(run.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for run in self.running.values():
            if run.process is None:
                continue
            try:
                run.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(run.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                run.process.wait(timeout=10)
        if self.server is not None and getattr(self.server, "url", "") and self.server.healthy():
            for config in webhook_configurations({name: run.webhook_port for name, run in self.running.items()},
                                                 b""):
                plural = config["kind"].lower() + "s"
                self.server.request("DELETE", f"/apis/admissionregistration.k8s.io/v1/{plural}/"
                                              f"{config['metadata']['name']}")

    def __enter__(self) -> "CapiManagers":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- steps
    def _install_crds(self, crd_dir: Path) -> None:
        from .crds import ConversionWebhook, install_crds, load_crds

        for run in self.running.values():
            crds = load_crds(_crd_files(crd_dir, run.manager.groups))
            if not crds:
                continue
            # the release's kustomization adds the contract labels at install time: so do we
            out = self.state_dir / "crds" / run.manager.binary
            out.mkdir(parents=True, exist_ok=True)
            for crd in crds:
                crd["metadata"].setdefault("labels", {}).update(dict(run.manager.crd_labels))
                (out / f"{crd['metadata']['name']}.yaml").write_text(json.dumps(crd))
            install_crds(self.server, [out], webhook=ConversionWebhook(
                f"https://127.0.0.1:{run.webhook_port}/convert", self.ca_pem, run.manager.groups))

    def _register_webhooks(self) -> None:
        ports = {name: run.webhook_port for name, run in self.running.items()}
        for config in webhook_configurations(ports, self.ca_pem):
            plural = config["kind"].lower() + "s"
            base = f"/apis/admissionregistration.k8s.io/v1/{plural}"
            status, body = self.server.request("POST", base, config)
            if status == 409:
                current = self.server.request("GET", f"{base}/{config['metadata']['name']}")[1]
                config["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                status, body = self.server.request("PUT", f"{base}/{config['metadata']['name']}", config)
            if status not in (200, 201):
                raise CapiError(f"{config['kind']} {config['metadata']['name']} refused ({status}): "
                                f"{body.get('message') if isinstance(body, dict) else body}")

    def _spawn(self, run: _Running, certs: Path) -> None:
        argv = [str(binary(run.manager.binary)),
                f"--kubeconfig={self.server.kubeconfig_path}",
                "--leader-elect=false",
                f"--webhook-port={run.webhook_port}",
                f"--webhook-cert-dir={certs}",
                f"--health-addr=127.0.0.1:{run.health_port}",
                f"--diagnostics-address=127.0.0.1:{run.diagnostics_port}",
                "--insecure-diagnostics",
                *self.extra_args.get(run.manager.binary, ())]
        env = {**os.environ, **dict(run.manager.env)}
        env.pop("KUBECONFIG", None)
        with run.log.open("wb") as handle:
            handle.write((" ".join(argv) + "\n").encode())
            handle.flush()
            run.process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=env, cwd=self.state_dir, start_new_session=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pending = set(self.running)
        while pending:
            for name in sorted(pending):
                run = self.running[name]
                assert run.process is not None
                if run.process.poll() is not None:
                    raise CapiError(f"{name} exited with {run.process.returncode}; last lines of {run.log}:\n"
                                    f"{_tail(run.log)}")
                if _http_ok(f"http://127.0.0.1:{run.health_port}/readyz"):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise CapiError(f"not ready after {self.startup_timeout:.0f}s: {', '.join(sorted(pending))}; "
                                + "; ".join(f"{n}: {_tail(self.running[n].log, 5)}" for n in sorted(pending)))
            if pending:
                time.sleep(0.5)
        unserved = [f"{name}{hook.path}" for name, run in self.running.items() for hook in run.manager.webhooks
                    if self.webhook_status(name, hook.path) == 404]
        if unserved:
            raise CapiError(f"webhook paths not served by the managers: {', '.join(unserved)}")

    # ------------------------------------------------------------------------------------- probes
    def webhook_status(self, binary_name: str, path: str) -> int:
        """HTTP status of an empty POST to a manager's webhook ``path`` (404 when it serves no such hook)."""
        run = self.running[binary_name]
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        req = urllib.request.Request(f"https://127.0.0.1:{run.webhook_port}{path}", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def healthy(self) -> bool:
        return all(run.process is not None and run.process.poll() is None
                   and _http_ok(f"http://127.0.0.1:{run.health_port}/healthz") for run in self.running.values())


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False
