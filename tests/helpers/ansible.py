"""Run ansible-playbook from the checkout, isolated per test, and read its PLAY RECAP."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)


@dataclass
class Result:
    rc: int
    stdout: str
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def changed(self, host: str = "localhost") -> int:
        return self.stats[host]["changed"]

    def failed(self, host: str = "localhost") -> int:
        return self.stats[host]["failed"]


def parse_recap(stdout: str) -> dict[str, dict[str, int]]:
    return {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in _RECAP.finditer(stdout)}


def isolated_env(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for one ansible run: its own temp dirs and discovery caches (kubernetes.core caches
    discovery under $TMPDIR keyed by server URL, and ports are reused between tests)."""
    tmp = tmp_path / "ansible-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    run_env.update({
        "TMPDIR": str(tmp),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "remote"),
        "ANSIBLE_HOME": str(tmp / "home"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if env:
        run_env.update(env)
    return run_env


def write_inventory(tmp_path: Path, *, kubeconfig: str | Path | None, hostvars: dict[str, Any] | None = None) -> Path:
    """A one-host inventory: localhost in group hub, local connection, this Python."""
    host: dict[str, Any] = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "mcg_helm_enabled": False,
        "mcg_helm_skip_reason": "no Helm binary or chart repository in the test environment",
    }
    if kubeconfig is not None:
        host["mcg_hub_kubeconfig"] = str(kubeconfig)
    host.update(hostvars or {})
    inv = {"all": {"children": {"hub": {"hosts": {"localhost": host}}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def run_playbook(tmp_path: Path, playbook: str | Path, *, kubeconfig: str | Path | None = None,
                 extra_vars: dict[str, Any] | None = None, check: bool = False, diff: bool = False,
                 verbosity: int = 0, env: dict[str, str] | None = None, hostvars: dict[str, Any] | None = None,
                 inventory: str | Path | None = None, tags: str | None = None, timeout: int = 300) -> Result:
    """Run a playbook (a path, or YAML text written to tmp_path) against localhost in group `hub`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if isinstance(playbook, str) and "\n" in playbook:
        pb = tmp_path / f"playbook-{len(list(tmp_path.glob('playbook-*.yml')))}.yml"
        pb.write_text(playbook)
    else:
        pb = Path(playbook)
        if not pb.is_absolute():
            pb = ROOT / pb
    inv = inventory or write_inventory(tmp_path, kubeconfig=kubeconfig, hostvars=hostvars)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv), str(pb)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    proc = subprocess.run(cmd, cwd=ROOT, env=isolated_env(tmp_path, env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    out = proc.stdout + proc.stderr
    return Result(rc=proc.returncode, stdout=out, stats=parse_recap(out))
