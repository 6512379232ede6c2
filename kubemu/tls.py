"""A private CA per server: server certificate for 127.0.0.1/localhost and client certificates."""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "KeyPair", "new_authority", "issue", "key_pem", "name"]

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM (unencrypted PKCS#8) private key."""

    cert_pem: bytes
    key_pem: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> bytes:
    """PEM (unencrypted PKCS#8) of a private key."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def name(common_name: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    """A subject: CN, then one O per group (how Kubernetes reads a client certificate's user and groups)."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    return x509.Name(attrs)


def new_authority(common_name: str, validity: dt.timedelta = _VALIDITY):
    """A self-signed CA: (certificate, EC P-256 private key)."""
    key = _key()
    subject = name(common_name)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def issue(ca_cert: x509.Certificate, ca_key, subject: x509.Name, *, server: bool, dns: tuple[str, ...] = (),
          ips: tuple[str, ...] = (), validity: dt.timedelta = _VALIDITY):
    """A leaf certificate signed by the CA, for serving (with the given SANs) or for a client:
    (certificate, EC P-256 private key)."""
    key = _key()
    now = dt.datetime.now(dt.timezone.utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + validity)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if server:
        names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


class Pki:
    """The CA of one server; it signs the serving certificate and client certificates."""

    def __init__(self, ca: KeyPair) -> None:
        self.ca = ca
        self._ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
        self._ca_key = serialization.load_pem_private_key(ca.key_pem, None)

    @classmethod
    def create(cls, server_name: str) -> "Pki":
        cert, key = new_authority(f"kubemu-{server_name}-ca")
        return cls(KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem(key)))

    def _issue(self, subject: x509.Name, *, server: bool) -> KeyPair:
        cert, key = issue(self._ca_cert, self._ca_key, subject, server=server, dns=("localhost",), ips=("127.0.0.1",))
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))

    def server_pair(self, server_name: str) -> KeyPair:
        return self._issue(name(f"kubemu-{server_name}"), server=True)

    def client_pair(self, user: str = "kubemu-admin", group: str = "system:masters") -> KeyPair:
        return self._issue(name(user, (group,) if group else ()), server=False)

    def server_context(self, pair: KeyPair) -> ssl.SSLContext:
        """TLS for the listener; a client certificate is optional but must chain to this CA."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_bytes(pair.cert_pem)
            key.write_bytes(pair.key_pem)
            ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(cadata=self.ca.cert_pem.decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx
