"""The collection's own kubeconfig reader and urllib3 transport, against kubemu (TLS, bearer tokens, client certs).

Each auth form of a kubeconfig is read by _kube_connection and sent by Urllib3Transport; what the reader leaves to
the kubernetes package goes to KubernetesTransport. Formats: kubernetes.io, "Organizing Cluster Access Using
kubeconfig Files" and "Authenticating: client-go credential plugins" (ExecCredential v1 / v1beta1).
"""
from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils import _k8s_client as kc
from ansible_collections.multicluster.gitops.plugins.module_utils import _kube_connection as conn
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, ConfigError

ROOT = Path(__file__).resolve().parents[4]

kubemu = pytest.importorskip("kubemu", reason="the emulated Kubernetes API (kubemu) is not available")


@pytest.fixture(scope="module")
def server():
    srv = kubemu.KubeServer(name="auth", tls=True).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _no_proxy_no_cache(monkeypatch):
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    kc._CLIENT_CACHE.clear()


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def _namespaces(transport) -> list[str]:
    client = kc.KubeClient(transport, retry=kc.RetryPolicy(attempts=1))
    return [ns["metadata"]["name"] for ns in client.list(kc.NAMESPACE)["items"]]


def _exec_script(tmp_path: Path, api_version: str, status: dict, name: str = "plugin.py") -> Path:
    """A credential plugin printing an ExecCredential; it records KUBERNETES_EXEC_INFO and counts its runs."""
    script = tmp_path / name
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, pathlib
        here = pathlib.Path(__file__).parent
        (here / "exec-info.json").write_text(os.environ.get("KUBERNETES_EXEC_INFO", ""))
        (here / "exec-env.txt").write_text(os.environ.get("PLUGIN_GREETING", ""))
        runs = here / "runs"
        runs.write_text(str(int(runs.read_text() if runs.exists() else 0) + 1))
        print(json.dumps({{"apiVersion": {api_version!r}, "kind": "ExecCredential", "status": {status!r}}}))
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _kubeconfig(server, user: dict, cluster: dict | None = None) -> dict:
    cl = {"server": server.url, "certificate-authority-data": _b64(server.ca_pem)} if cluster is None else cluster
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": cl}], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def _client_pair(server):
    return server._pki.client_pair()  # pylint: disable=protected-access


def _user(form: str, server, tmp_path: Path) -> dict:
    if form == "token":
        return {"token": server.admin_token}
    if form == "tokenFile":
        (tmp_path / "token").write_text(server.admin_token + "\n")
        return {"tokenFile": "token"}  # relative to the kubeconfig's directory
    pair = _client_pair(server)
    if form == "certs inline":
        return {"client-certificate-data": _b64(pair.cert_pem), "client-key-data": _b64(pair.key_pem)}
    if form == "certs by path":
        (tmp_path / "pki").mkdir()
        (tmp_path / "pki" / "tls.crt").write_bytes(pair.cert_pem)
        (tmp_path / "pki" / "tls.key").write_bytes(pair.key_pem)
        # relative to the kubeconfig's directory (kubernetes/client-go @ v0.34.4 : tools/clientcmd/loader.go,
        # GetAuthInfoFileReferences and ResolvePaths; the same for tokenFile and an exec command with a separator)
        return {"client-certificate": "pki/tls.crt", "client-key": str(tmp_path / "pki" / "tls.key")}
    api_version = "client.authentication.k8s.io/" + form.split()[1]
    if form.endswith("cert"):
        status = {"clientCertificateData": pair.cert_pem.decode(), "clientKeyData": pair.key_pem.decode()}
    else:
        status = {"token": server.admin_token, "expirationTimestamp": "2999-01-01T00:00:00Z"}
    _exec_script(tmp_path, api_version, status)
    return {"exec": {"apiVersion": api_version, "command": "./plugin.py", "args": [],
                     "env": [{"name": "PLUGIN_GREETING", "value": "hello"}], "interactiveMode": "Never"}}


@pytest.mark.parametrize("form", ["token", "tokenFile", "certs inline", "certs by path",
                                  "exec v1", "exec v1beta1", "exec v1 cert"])
def test_each_auth_form_reaches_the_api_with_urllib3(form, server, tmp_path):
    """File names in a kubeconfig (client-certificate, client-key, tokenFile, an exec command with a path separator)
    are relative to the kubeconfig's directory: kubernetes/client-go @ v0.34.4 : tools/clientcmd/loader.go
    (GetAuthInfoFileReferences, ResolvePaths)."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(_kubeconfig(server, _user(form, server, tmp_path))))
    transport = kc.api_client_from_params({"kubeconfig": str(path)})
    assert isinstance(transport, kc.Urllib3Transport)
    assert "default" in _namespaces(transport)
    if form.startswith("exec"):
        assert (tmp_path / "exec-env.txt").read_text() == "hello"
        info = json.loads((tmp_path / "exec-info.json").read_text())
        assert info["kind"] == "ExecCredential" and info["apiVersion"].endswith(form.split()[1])
        assert info["spec"]["interactive"] is False and "cluster" not in info["spec"]


def test_without_credentials_the_api_says_401(server):
    transport = kc.api_client_from_kubeconfig(_kubeconfig(server, {}))
    with pytest.raises(ApiError) as info:
        _namespaces(transport)
    assert info.value.status == 401


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_ca_is_verified_and_insecure_skips_it(server):
    no_ca = {"server": server.url}
    with pytest.raises(ApiError, match="SSLError|CERTIFICATE_VERIFY_FAILED"):
        _namespaces(kc.api_client_from_kubeconfig(_kubeconfig(server, {"token": server.admin_token}, no_ca)))
    insecure = {"server": server.url, "insecure-skip-tls-verify": True}
    assert "default" in _namespaces(kc.api_client_from_kubeconfig(
        _kubeconfig(server, {"token": server.admin_token}, insecure)))


def test_tls_server_name_is_the_name_verified(server):
    """kubemu's serving certificate names localhost and 127.0.0.1: the URL's 127.0.0.1 passes, another name not."""
    base = {"server": server.url, "certificate-authority-data": _b64(server.ca_pem)}
    user = {"token": server.admin_token}
    assert _namespaces(kc.api_client_from_kubeconfig(_kubeconfig(server, user, dict(base, **{
        "tls-server-name": "localhost"}))))
    with pytest.raises(ApiError, match="SSLError|CertificateError|match"):
        _namespaces(kc.api_client_from_kubeconfig(_kubeconfig(server, user, dict(base, **{
            "tls-server-name": "elsewhere.example"}))))


def test_explicit_options_override_the_kubeconfig(server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem)
    transport = kc.api_client_from_params({"host": server.url, "api_key": server.admin_token, "ca_cert": str(ca),
                                           "kubeconfig": {"not": "read"}})
    assert isinstance(transport, kc.Urllib3Transport) and transport.host == server.url
    assert "default" in _namespaces(transport)
    pair = _client_pair(server)
    (tmp_path / "c.crt").write_bytes(pair.cert_pem)
    (tmp_path / "c.key").write_bytes(pair.key_pem)
    doc = _kubeconfig(server, {}, {"server": server.url})
    transport = kc.api_client_from_params({"kubeconfig": doc, "ca_cert": str(ca), "client_cert": str(tmp_path / "c.crt"),
                                           "client_key": str(tmp_path / "c.key")})
    assert "default" in _namespaces(transport)
    kc._CLIENT_CACHE.clear()
    off = kc.api_client_from_params({"kubeconfig": _kubeconfig(server, {"token": server.admin_token}),
                                     "validate_certs": False})
    assert off.conn.verify is False


def test_in_cluster_service_account(server, tmp_path, monkeypatch):
    (tmp_path / "token").write_text(server.admin_token)
    (tmp_path / "ca.crt").write_bytes(server.ca_pem)
    monkeypatch.setattr(conn, "SERVICE_ACCOUNT_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    transport = kc.api_client_from_params({})
    assert transport.host == f"https://127.0.0.1:{server.port}"
    assert "default" in _namespaces(transport)
    assert conn.from_incluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"},
                               str(tmp_path)).host == "https://[fd00::1]:443"
    with pytest.raises(conn.KubeconfigInvalid, match="Service host/port is not set"):
        conn.from_incluster({}, str(tmp_path))


def test_token_file_is_read_again(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("first\n")
    creds = conn.Credentials(token_file=str(token))
    assert creds.header() == "Bearer first"
    token.write_text("second")
    assert creds.header() == "Bearer first"  # within the re-read period
    monkeypatch.setattr(conn, "TOKEN_FILE_REREAD_SECONDS", -1.0)
    assert creds.header() == "Bearer second"


def test_token_wins_over_token_file_and_exec_and_basic():
    """The order the kubernetes Python package applied before (token, tokenFile, exec, username/password), kept."""
    doc = _kubeconfig_plain({"token": "tok", "tokenFile": "/nonexistent", "username": "a", "password": "b",
                             "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent"}})
    assert conn.from_kubeconfig(doc).credentials.header() == "Bearer tok"


def test_basic_auth():
    creds = conn.from_kubeconfig(_kubeconfig_plain({"username": "ann", "password": "s3cret"})).credentials
    assert creds.header() == "Basic " + _b64("ann:s3cret")


def _kubeconfig_plain(user: dict, cluster: dict | None = None) -> dict:
    return {"current-context": "c", "clusters": [{"name": "c", "cluster": cluster or {"server": "https://k:6443"}}],
            "users": [{"name": "u", "user": user}], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def test_exec_plugin_gets_cluster_info_and_runs_again_once_expired(tmp_path):
    """The ExecCredential's spec.cluster carries the kubeconfig's key names (kubernetes/client-go @ v0.34.4 :
    pkg/apis/clientauthentication/v1/types.go, Cluster's json tags) and the cluster extension
    client.authentication.k8s.io/exec as config (@ v0.34.4 : tools/clientcmd/client_config.go,
    clusterExtensionKey)."""
    script = _exec_script(tmp_path, "client.authentication.k8s.io/v1beta1",
                          {"token": "t", "expirationTimestamp": "2000-01-01T00:00:00.123456789Z"})
    cluster = {"server": "https://k:6443", "certificate-authority-data": "Q0E=", "tls-server-name": "k.internal",
               "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"region": "eu"}}]}
    doc = _kubeconfig_plain({"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(script),
                                      "provideClusterInfo": True}}, cluster)
    creds = conn.from_kubeconfig(doc).credentials
    assert json.loads((tmp_path / "exec-info.json").read_text())["spec"]["cluster"] == {
        "server": "https://k:6443", "certificate-authority-data": "Q0E=", "tls-server-name": "k.internal",
        "config": {"region": "eu"}}
    assert creds.header() == "Bearer t"
    assert (tmp_path / "runs").read_text() == "2"  # expired in 2000: run again for the header


@pytest.mark.parametrize("printed, command, message", [
    ({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "t"}},
     None, "does not match client.authentication.k8s.io/v1"),
    ({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {}},
     None, "neither a token nor a client certificate"),
    (None, "/nonexistent/oci", "cannot run it.*Install the OCI CLI"),
])
def test_exec_plugin_errors_say_what_went_wrong(tmp_path, printed, command, message):
    script = tmp_path / "p.sh"
    script.write_text(f"#!/bin/sh\necho '{json.dumps(printed)}'\n")
    script.chmod(0o700)
    doc = _kubeconfig_plain({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command or str(script),
                                      "installHint": "Install the OCI CLI"}})
    with pytest.raises(conn.KubeconfigInvalid, match=message):
        conn.from_kubeconfig(doc)


def test_exec_plugin_failure_carries_its_stderr(tmp_path):
    script = tmp_path / "p.sh"
    script.write_text("#!/bin/sh\necho 'ServiceError: NotAuthenticated' >&2\nexit 3\n")
    script.chmod(0o700)
    doc = _kubeconfig_plain({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}})
    with pytest.raises(ConfigError, match="exited with status 3: ServiceError: NotAuthenticated"):
        kc.api_client_from_kubeconfig(doc)


@pytest.mark.parametrize("change, needs", [
    ({"user": {"auth-provider": {"name": "oidc", "config": {"id-token": "x"}}}}, "auth-provider"),
    ({"cluster": {"server": "https://k:6443", "proxy-url": "http://127.0.0.1:3128"}}, "proxy-url"),
    ({"env": "HTTPS_PROXY"}, "proxy"),
])
def test_the_rest_goes_to_the_kubernetes_package(change, needs, monkeypatch):
    doc = _kubeconfig_plain(change.get("user", {"token": "t"}), change.get("cluster"))
    if change.get("env"):
        monkeypatch.setenv(change["env"], "http://127.0.0.1:3128")
    transport = kc.api_client_from_params({"kubeconfig": doc})
    assert isinstance(transport, kc.KubernetesTransport)
    assert transport.host == "https://k:6443"
    kc._CLIENT_CACHE.clear()
    monkeypatch.setattr(kc, "HAS_KUBERNETES", False)
    with pytest.raises(ConfigError, match=f"{needs}.*needs the Python 'kubernetes' package"):
        kc.api_client_from_params({"kubeconfig": doc})


def test_inline_client_keys_leave_no_file_behind(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    pair = _client_pair(server)
    transport = kc.api_client_from_kubeconfig(_kubeconfig(server, {
        "client-certificate-data": _b64(pair.cert_pem), "client-key-data": _b64(pair.key_pem)}))
    assert "default" in _namespaces(transport)
    assert list(tmp_path.iterdir()) == []


MODULE_RUN = """
import atexit, runpy, sys
atexit.register(lambda: sys.stderr.write("KUBERNETES_MODULES=%d\\n" % sum(
    m == "kubernetes" or m.startswith("kubernetes.") for m in sys.modules)))
sys.argv = ["argocd_cluster_secret", sys.argv[1]]
runpy.run_module("ansible_collections.multicluster.gitops.plugins.modules.argocd_cluster_secret", run_name="__main__")
"""


def test_a_module_process_never_imports_kubernetes(kube_server_factory, tmp_path):
    """argocd_cluster_secret run as its own process against kubemu (a hub with the Cluster API CRDs and no Cluster):
    it succeeds, talks to the API, and `kubernetes` never enters sys.modules."""
    from tests.conftest import CRD_DIR  # pylint: disable=import-outside-toplevel
    if not (CRD_DIR / "cluster.x-k8s.io_clusters.yaml").exists():
        pytest.skip(f"no Cluster API CRD in {CRD_DIR}: set MCG_CRD_DIR")
    server = kube_server_factory("hub", crd_dir=CRD_DIR)
    kubeconfig = server.write_kubeconfig(tmp_path / "hub.kubeconfig")
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"kubeconfig": str(kubeconfig), "namespace": "workloads",
                                                        "argocd_namespace": "argocd"}}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / ".cache" / "collections"), str(ROOT)]))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", MODULE_RUN, str(args)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    result = json.loads(proc.stdout)
    assert "KUBERNETES_MODULES=0" in proc.stderr, proc.stderr
    assert server.requests, "the module did not talk to the API server"
    assert not result.get("failed"), result.get("msg")


@pytest.mark.parametrize("text, epoch", [
    ("2026-12-03T07:00:00Z", 1796281200.0),  # the form oke-token.py prints
    ("2026-12-03T07:00:00.123456789Z", 1796281200.123456),
    ("2026-12-03T09:00:00+02:00", 1796281200.0),
])
def test_expiration_timestamps_in_rfc3339(text, epoch):
    assert conn._timestamp(text) == pytest.approx(epoch)  # pylint: disable=protected-access


def test_parallel_requests_keep_their_connections(server, caplog):
    """The registration writes from 8 threads: the pool keeps every connection (urllib3 discards a connection it
    cannot put back, and the next request pays a new TLS handshake)."""
    import threading  # pylint: disable=import-outside-toplevel
    transport = kc.api_client_from_kubeconfig(_kubeconfig(server, {"token": server.admin_token}))
    client = kc.KubeClient(transport)
    n = min(8, (os.cpu_count() or 1) * 5)  # the pool's size
    barrier = threading.Barrier(n)

    def work() -> None:
        barrier.wait()
        for attempt in range(10):
            client.list(kc.NAMESPACE)

    caplog.set_level("WARNING", logger="urllib3.connectionpool")
    threads = [threading.Thread(target=work) for worker in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.requests == 10 * n
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
