"""Where the summary of a non-sandbox inventory goes: one folder at the checkout's root that git ignores, whether
the summary play runs on its own (playbooks/summary.yml) or imported by site.yml (then Ansible's playbook_dir is
playbooks/, not the root)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.ansible import run_playbook

PLAYBOOK = """- hosts: hub
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ mcg_summary_dir }}"
        mode: "0600"
"""


@pytest.mark.parametrize("inventory", ["oci", "local"])
@pytest.mark.parametrize("where", ["", "playbooks"])
def test_summary_dir_is_the_root_platform_summary(tmp_path: Path, inventory: str, where: str) -> None:
    repo = tmp_path / "checkout"
    play_dir = repo / where if where else repo
    play_dir.mkdir(parents=True)
    (play_dir / "show.yml").write_text(PLAYBOOK)
    out = tmp_path / "summary_dir.txt"
    result = run_playbook(tmp_path / "run", play_dir / "show.yml", inventory=ROOT / "inventories" / inventory,
                          extra_vars={"out": str(out)})
    assert result.rc == 0, result.stdout[-3000:]
    assert out.read_text() == f"{repo}/platform-summary"


@pytest.mark.parametrize("path", ["platform-summary/summary.json", "playbooks/platform-summary/summary.md"])
def test_summary_dir_is_ignored_by_git(path: str) -> None:
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT, check=False)
    assert proc.returncode == 0, f"{path} is not ignored by .gitignore"
