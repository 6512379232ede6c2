"""Every kubernetes.core task in roles/*/tasks and playbooks/*.yml retries transient API errors, the same way.

The pattern (docs/faults.md): ``register``, ``retries: "{{ mcg_k8s_retries | default(5) }}"``,
``delay: "{{ mcg_k8s_retry_delay | default(3) }}"`` and ``until: <register> is not multicluster.gitops.transient``.
A wait loop keeps its own ``retries`` and ``delay``; its ``until`` starts with the same test, so a transient error
counts as "not yet", and lets a failed result end the loop (``<register> is failed or ...``) so a permanent error
fails at once. Helm (kubernetes.core.helm, helm_*) is left out: it runs the helm binary, see docs/faults.md.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RETRIES = "{{ mcg_k8s_retries | default(5) }}"
DELAY = "{{ mcg_k8s_retry_delay | default(3) }}"
K8S_MODULE = re.compile(r"^kubernetes\.core\.(k8s\w*)$")
# Task keys that hold nested tasks.
NESTED = ("block", "rescue", "always")


def _files() -> list[Path]:
    return sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("playbooks/*.yml"))


def _tasks(node: Any) -> Iterator[dict[str, Any]]:
    """Every task of a task file or playbook, blocks and plays included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", *NESTED):
            if isinstance(node.get(key), list):
                yield from _tasks(node[key])
        if not any(key in node for key in ("hosts", *NESTED)):
            yield node


def k8s_tasks(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(task name, module, task) of every kubernetes.core task except Helm in ``path``."""
    found = []
    for task in _tasks(yaml.safe_load(path.read_text()) or []):
        module = next((k for k in task if K8S_MODULE.match(str(k))), None)
        if module is not None:
            found.append((str(task.get("name", "?")), module, task))
    return found


def problems(task: dict[str, Any]) -> list[str]:
    """What the task lacks of the shared retry pattern; empty when it follows it."""
    register = task.get("register")
    if not register:
        return ["no register"]
    until = " ".join(str(task.get("until", "")).split())
    test = f"{register} is not multicluster.gitops.transient"
    if until == test:
        out = []
        if task.get("retries") != RETRIES:
            out.append(f"retries is {task.get('retries')!r}, not {RETRIES!r}")
        if task.get("delay") != DELAY:
            out.append(f"delay is {task.get('delay')!r}, not {DELAY!r}")
        return out
    # a wait loop: its own retries and delay, the transient test first, a failed result ends the loop
    if until.startswith(f"{test} and ({register} is failed or ") and until.endswith(")"):
        return [] if task.get("retries") is not None else ["a wait loop without retries"]
    return [f"until is {until!r}, not {test!r} (or a wait loop starting with it)"]


def _all_k8s_tasks() -> list[Any]:
    return [pytest.param(path, name, task, id=f"{path.relative_to(ROOT)}::{name}")
            for path in _files() for name, _module, task in k8s_tasks(path)]


def test_the_roles_and_playbooks_have_kubernetes_core_tasks() -> None:
    """The scan finds what grep finds: a task file the walk missed would pass the test below unread."""
    counted = sum(len(k8s_tasks(path)) for path in _files())
    grepped = sum(len(re.findall(r"^\s*kubernetes\.core\.k8s\w*:\s*$", path.read_text(), re.M)) for path in _files())
    assert counted == grepped and counted >= 25


@pytest.mark.parametrize("path, name, task", _all_k8s_tasks())
def test_every_kubernetes_core_task_retries_transient_errors(path: Path, name: str, task: dict[str, Any]) -> None:
    assert problems(task) == [], f"{path.relative_to(ROOT)}: task {name!r}"


@pytest.mark.parametrize("task, expected", [
    ({"register": "r", "retries": RETRIES, "delay": DELAY, "until": "r is not multicluster.gitops.transient"}, []),
    ({"retries": RETRIES, "delay": DELAY}, ["no register"]),
    ({"register": "r", "retries": 3, "delay": DELAY, "until": "r is not multicluster.gitops.transient"},
     [f"retries is 3, not {RETRIES!r}"]),
    ({"register": "r", "retries": RETRIES, "delay": DELAY, "until": "r is not failed"},
     ["until is 'r is not failed', not 'r is not multicluster.gitops.transient' (or a wait loop starting with it)"]),
    ({"register": "r", "retries": 60, "delay": 10,
      "until": "r is not multicluster.gitops.transient and (r is failed or r.resources | length > 0)"}, []),
    ({"register": "r", "retries": 60, "delay": 10,
      "until": "r is not multicluster.gitops.transient and r.resources | length > 0"},
     ["until is 'r is not multicluster.gitops.transient and r.resources | length > 0', not "
      "'r is not multicluster.gitops.transient' (or a wait loop starting with it)"]),
])
def test_the_check_itself(task: dict[str, Any], expected: list[str]) -> None:
    assert problems(task) == expected
