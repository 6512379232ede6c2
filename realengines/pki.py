"""Certificates and keys for one real API server run (written as PEM files).

``Pki.create(directory)`` writes what kubeadm would put under /etc/kubernetes/pki: a cluster CA,
the apiserver serving certificate (127.0.0.1, localhost, the service IP and kubernetes.default...),
a front-proxy CA with its client certificate, and the service-account signing key pair. Client
certificates (``Pki.client_cert``) are signed by the cluster CA: the apiserver maps CN to the
user name and O to groups.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    return x509.Name(attrs)


class _Authority:
    def __init__(self, directory: Path, stem: str, common_name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        subject = _name(common_name)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pair = CertPair(_write(directory / f"{stem}.crt", self.cert.public_bytes(serialization.Encoding.PEM)),
                             _write(directory / f"{stem}.key", _key_pem(self.key), private=True))

    def issue(self, path_stem: Path, common_name: str, *, orgs: tuple[str, ...] = (), server: bool = False,
              dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> CertPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, orgs)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if server:
            names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return CertPair(_write(path_stem.with_suffix(".crt"), cert.public_bytes(serialization.Encoding.PEM)),
                        _write(path_stem.with_suffix(".key"), _key_pem(key), private=True))


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
        self.sa_key = _write(directory / "sa.key", _key_pem(sa_key), private=True)
        self.sa_pub = _write(directory / "sa.pub", sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def client_cert(self, stem: str, user: str, groups: tuple[str, ...] = ()) -> CertPair:
        """A client certificate of the cluster CA for ``user`` in ``groups`` (files ``<stem>.crt/.key``)."""
        return self._ca.issue(self.directory / stem, user, orgs=groups)
