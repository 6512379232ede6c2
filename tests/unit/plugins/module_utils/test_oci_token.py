"""The collection's OKE token generator (exec credential plugin) with a real SDK signer."""
from __future__ import annotations

import base64
import datetime
import json
from urllib.parse import parse_qs, urlparse

import pytest

oci = pytest.importorskip("oci")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from ansible_collections.multicluster.gitops.plugins.module_utils import _oci_token as tok  # noqa: E402

CLUSTER = "ocid1.cluster.oc1.eu-frankfurt-1.aaaa"
USER, TENANCY, FP = "ocid1.user.oc1..u", "ocid1.tenancy.oc1..t", "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("tok") / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def decode(token: str):
    url = urlparse(base64.urlsafe_b64decode(token.encode()).decode())
    return url, parse_qs(url.query)


def test_token_is_a_presigned_cluster_request(key_file):
    signer = oci.signer.Signer(TENANCY, USER, FP, str(key_file))
    url, query = decode(tok.generate_token(signer, "eu-frankfurt-1", CLUSTER))
    assert (url.scheme, url.netloc, url.path) == (
        "https", "containerengine.eu-frankfurt-1.oraclecloud.com", f"/cluster_request/{CLUSTER}")
    assert set(query) == {"authorization", "date"}
    assert f'keyId="{TENANCY}/{USER}/{FP}"' in query["authorization"][0]
    assert 'headers="date (request-target) host"' in query["authorization"][0]


def test_exec_credential_shape():
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    cred = tok.exec_credential("T", now)
    assert cred["kind"] == "ExecCredential" and cred["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert cred["status"] == {"token": "T", "expirationTimestamp": "2026-01-02T03:08:05Z"}


def test_main_reads_profile_and_env(tmp_path, key_file, monkeypatch, capsys):
    config = tmp_path / "config"
    config.write_text(f"[hub]\nuser={USER}\nfingerprint={FP}\ntenancy={TENANCY}\nregion=eu-frankfurt-1\n"
                      f"key_file={key_file}\n")
    monkeypatch.setenv("OCI_CLI_REGION", "us-ashburn-1")
    rc = tok.main(["ce", "cluster", "generate-token", "--cluster-id", CLUSTER, "--config-file", str(config),
                   "--profile", "hub"])
    assert rc == 0
    cred = json.loads(capsys.readouterr().out)
    url = decode(cred["status"]["token"])[0]
    assert url.netloc == "containerengine.us-ashburn-1.oraclecloud.com"  # environment over the file


def test_main_explains_failures(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    rc = tok.main(["--cluster-id", CLUSTER, "--config-file", str(tmp_path / "missing")])
    assert rc == 1 and "Check the OCI config" in capsys.readouterr().err


def test_script_is_standalone():
    source = open(tok.__file__).read()
    assert "ansible" not in "\n".join(line for line in source.splitlines() if line.startswith(("import", "from")))
