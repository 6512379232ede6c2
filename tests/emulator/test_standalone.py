"""`python -m kubemu serve`: a standalone process with a kubeconfig, clean SIGTERM, persisted state."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client

from .conftest import api_client_for, cm

ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "kubemu", "serve", "--name", "standalone", "--port", "0",
           "--kubeconfig", str(tmp_path / "kubeconfig.yaml"), "--state-dir", str(tmp_path / "state")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("https://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
    return proc, url


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


def test_standalone_process_persists_objects_across_restarts(tmp_path):
    proc, url = serve(tmp_path)
    try:
        core = client.CoreV1Api(api_client_for(tmp_path / "kubeconfig.yaml"))
        created = core.create_namespaced_config_map("default", cm("kept", x="1"))
    finally:
        assert stop(proc) == 0
    assert (tmp_path / "kubeconfig.yaml").stat().st_mode & 0o077 == 0
    proc = serve(tmp_path)[0]
    try:
        core = client.CoreV1Api(api_client_for(tmp_path / "kubeconfig.yaml"))
        again = core.read_namespaced_config_map("kept", "default")
        assert again.metadata.uid == created.metadata.uid and again.data == {"x": "1"}
        newer = core.create_namespaced_config_map("default", cm("newer"))
        assert int(newer.metadata.resource_version) > int(created.metadata.resource_version)
    finally:
        assert stop(proc) == 0
