"""The checkout works as the collection with no ansible-galaxy install: ansible-doc lists and documents
every module, and every playbook passes Ansible's syntax check."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.ansible import ROOT, isolated_env

BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))


def _run(args: list[str], tmp_path: Path) -> str:
    proc = subprocess.run(args, cwd=ROOT, env=isolated_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_ansible_doc_lists_every_module(tmp_path):
    listed = json.loads(_run([str(BIN / "ansible-doc"), "-l", "-j", "multicluster.gitops"], tmp_path))
    assert sorted(name.split(".")[-1] for name in listed) == MODULES
    assert len(MODULES) >= 7


def test_ansible_doc_renders_every_module(tmp_path):
    docs = json.loads(_run([str(BIN / "ansible-doc"), "-j", *[f"multicluster.gitops.{m}" for m in MODULES]],
                           tmp_path))
    for name in MODULES:
        doc = docs[f"multicluster.gitops.{name}"]["doc"]
        assert doc["short_description"] and doc["options"], name


@pytest.mark.parametrize("playbook", ["site.yml", "playbooks/destroy.yml"])
def test_playbooks_pass_syntax_check(tmp_path, playbook):
    _run([str(BIN / "ansible-playbook"), "--syntax-check", playbook], tmp_path)
