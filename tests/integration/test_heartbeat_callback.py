"""The heartbeat callback (plugins/callback/heartbeat.py, enabled in ansible.cfg): a line while a task runs long
without output; none for quick tasks, none with interval 0."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.ansible import run_playbook

pytestmark = pytest.mark.integration

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Wait without output
      ansible.builtin.command: sleep 4
      changed_when: false
    - name: Answer at once
      ansible.builtin.debug:
        msg: done
"""


def _block(out: str, task: str) -> str:
    return out.split(f"TASK [{task}]", 1)[1].split("TASK [", 1)[0]


def test_a_long_task_prints_a_heartbeat_line(tmp_path: Path) -> None:
    res = run_playbook(tmp_path, PLAYBOOK, env={"MCG_HEARTBEAT_INTERVAL": "1"})
    assert res.rc == 0, res.stdout
    beats = [ln for ln in _block(res.stdout, "Wait without output").splitlines() if "still running" in ln]
    assert beats, res.stdout
    assert all(re.fullmatch(r"  \.\.\. still running after \d+s: Wait without output \[localhost\]", ln)
               for ln in beats), beats
    assert "still running" not in _block(res.stdout, "Answer at once"), res.stdout


def test_interval_zero_disables_it(tmp_path: Path) -> None:
    res = run_playbook(tmp_path, PLAYBOOK, env={"MCG_HEARTBEAT_INTERVAL": "0"})
    assert res.rc == 0, res.stdout
    assert "still running" not in res.stdout, res.stdout
