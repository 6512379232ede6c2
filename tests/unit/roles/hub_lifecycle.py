"""Shared steps of the hub roles' integration tests (tests/integration/test_role_{ingress_tls,argocd,appsets}.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tests.helpers.ansible import Result, run_playbook

__all__ = ["WRITES", "writes", "flat", "check_apply_reapply", "bad_variable_run"]

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

Lookup = Callable[[], dict[str, Any]]


def flat(text: str) -> str:
    """The output with every run of whitespace as one space (the YAML callback wraps long messages)."""
    return " ".join(text.split())


def writes(server: Any) -> list[tuple[str, str]]:
    """Write requests the server has served since its counters were reset."""
    return sorted(key for key, count in server.requests.items() if key[0] in WRITES and count)


def check_apply_reapply(server: Any, kubeconfig: Path, tmp_path: Path, playbook: str, hostvars: dict[str, Any],
                        objects: Lookup, before_apply: Callable[[], None] | None = None) -> tuple[Result, Result, Result]:
    """--check on a fresh server (nothing written, objects absent), a real run (objects present), a second run.

    ``objects()`` returns name -> live object (or None); ``before_apply()`` may add what the real run expects
    (objects other components would have created). Returns the three results for role-specific assertions.
    """
    assert all(v is None for v in objects().values()), "the server is not fresh"
    server.reset_counters()
    check = run_playbook(tmp_path / "check", playbook, kubeconfig=kubeconfig, hostvars=hostvars, check=True, diff=True)
    assert check.rc == 0, check.stdout
    # (kubernetes.core's check mode sends server-side dry runs, so the write counters cannot tell; the store can)
    assert {k: v for k, v in objects().items() if v is not None} == {}, "check mode created objects"

    if before_apply is not None:
        before_apply()
    first = run_playbook(tmp_path / "first", playbook, kubeconfig=kubeconfig, hostvars=hostvars)
    assert first.rc == 0, first.stdout
    assert first.changed() > 0, first.stdout
    missing = [k for k, v in objects().items() if v is None]
    assert missing == [], first.stdout

    second = run_playbook(tmp_path / "second", playbook, kubeconfig=kubeconfig, hostvars=hostvars)
    assert second.rc == 0, second.stdout
    assert second.changed() == 0, second.stdout
    return check, first, second


def bad_variable_run(server: Any, kubeconfig: Path, tmp_path: Path, playbook: str, hostvars: dict[str, Any],
                     variable: str) -> Result:
    """A run with a bad variable fails in the preflight, names the variable and writes nothing."""
    server.reset_counters()
    result = run_playbook(tmp_path, playbook, kubeconfig=kubeconfig, hostvars=hostvars)
    assert result.rc != 0, result.stdout
    assert result.failed() == 1, result.stdout
    assert variable in flat(result.stdout), result.stdout
    assert "preflight" in result.stdout.lower() or "Check " in result.stdout, result.stdout
    assert writes(server) == [], result.stdout
    return result
