"""Certificates and keys for one real API server run (written as PEM files).

``Pki.create(directory)`` writes what kubeadm would put under /etc/kubernetes/pki: a cluster CA,
the apiserver serving certificate (127.0.0.1, localhost, the service IP and kubernetes.default...),
a front-proxy CA with its client certificate, and the service-account signing key pair. Client
certificates (``Pki.client_cert``) are signed by the cluster CA: the apiserver maps CN to the
user name and O to groups.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kubemu import tls

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


class _Authority:
    def __init__(self, directory: Path, stem: str, common_name: str) -> None:
        self.cert, self.key = tls.new_authority(common_name, _VALIDITY)
        self.pair = CertPair(_write(directory / f"{stem}.crt", self.cert.public_bytes(serialization.Encoding.PEM)),
                             _write(directory / f"{stem}.key", tls.key_pem(self.key), private=True))

    def issue(self, path_stem: Path, common_name: str, *, orgs: tuple[str, ...] = (), server: bool = False,
              dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> CertPair:
        cert, key = tls.issue(self.cert, self.key, tls.name(common_name, orgs), server=server, dns=dns, ips=ips,
                              validity=_VALIDITY)
        return CertPair(_write(path_stem.with_suffix(".crt"), cert.public_bytes(serialization.Encoding.PEM)),
                        _write(path_stem.with_suffix(".key"), tls.key_pem(key), private=True))


class Pki:
    """The PKI of one run, under ``directory`` (``ca.crt``, ``apiserver.crt``, ``sa.key``, ...)."""

    SERVICE_IP = "10.0.0.1"

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._ca = _Authority(directory, "ca", "kubernetes")
        self._front_proxy_ca = _Authority(directory, "front-proxy-ca", "front-proxy-ca")
        self.ca = self._ca.pair
        self.front_proxy_ca = self._front_proxy_ca.pair
        self.serving = self._ca.issue(directory / "apiserver", "kube-apiserver", server=True,
                                      dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                           "kubernetes.default.svc.cluster.local"),
                                      ips=("127.0.0.1", self.SERVICE_IP))
        self.front_proxy_client = self._front_proxy_ca.issue(directory / "front-proxy-client", "front-proxy-client")
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sa_key = _write(directory / "sa.key", tls.key_pem(sa_key), private=True)
        self.sa_pub = _write(directory / "sa.pub", sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def client_cert(self, stem: str, user: str, groups: tuple[str, ...] = ()) -> CertPair:
        """A client certificate of the cluster CA for ``user`` in ``groups`` (files ``<stem>.crt/.key``)."""
        return self._ca.issue(self.directory / stem, user, orgs=groups)
