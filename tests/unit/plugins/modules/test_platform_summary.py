"""platform_summary: the summary files of ``dest`` - written when their content differs, not in check mode, with a
diff - and the module's documented options equal to its argument spec."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.multicluster.gitops.plugins.modules import platform_summary as module

SUMMARY = {"clusters": [{"cluster": "wl-1", "namespace": "fleet", "kind": "self-managed", "phase": "Provisioned",
                         "labels": {"env": "test"}, "registered": True, "argocd_secret": "cluster-fleet.wl-1",
                         "credential_mode": "kubeconfig", "server": "https://wl-1:6443", "applicationsets": []}],
           "applicationsets": ["guestbook"]}
ENGINES = {"real": {}, "not_real": {"hub": "kubemu"}}


def _run(args: dict[str, Any], summary: dict[str, Any] | None = None) -> dict[str, Any]:
    class Exit(Exception):
        pass

    captured: dict[str, Any] = {}

    def finish(kind):
        def inner(self, **kwargs):
            captured.update(kwargs, _kind=kind)
            raise Exit
        return inner

    with patch_module_args(args), \
            mock.patch.object(module.AnsibleModule, "exit_json", finish("exit")), \
            mock.patch.object(module.AnsibleModule, "fail_json", finish("fail")), \
            mock.patch.object(module, "kube_client", lambda params: None), \
            mock.patch.object(module, "summarize", lambda client, **kw: json.loads(json.dumps(summary or SUMMARY))):
        with pytest.raises(Exit):
            module.main()
    return captured


def test_documented_options_are_the_argument_spec():
    doc = yaml.safe_load(module.DOCUMENTATION)
    spec = module.argspec()
    own = {k: v for k, v in spec.items() if k in ("argocd_namespace", "label_selector", "hub_name", "dest", "engines")}
    assert set(own) == set(doc["options"])
    for name, opt in own.items():
        assert doc["options"][name]["type"] == opt["type"], name
        assert doc["options"][name].get("default") == opt.get("default"), name


def test_without_dest_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = _run({})
    assert result["_kind"] == "exit" and result["changed"] is False and "files" not in result
    assert not list(tmp_path.iterdir())


def test_files_written_then_unchanged_then_rewritten_when_the_hub_changed(tmp_path: Path):
    dest = tmp_path / "out" / "summary"
    first = _run({"dest": str(dest), "engines": ENGINES})
    assert first["_kind"] == "exit" and first["changed"] is True
    assert sorted(first["files"]) == [str(dest / "summary.json"), str(dest / "summary.md")]
    doc = json.loads((dest / "summary.json").read_text())
    assert doc == {**SUMMARY, "engines": ENGINES}
    assert (dest / "summary.md").read_text() == f"# Platform\n\n```mermaid\n{first['mermaid']}```\n"
    assert oct((dest / "summary.json").stat().st_mode & 0o777) == "0o644"
    assert oct(dest.stat().st_mode & 0o777) == "0o755"

    again = _run({"dest": str(dest), "engines": ENGINES})
    assert again["changed"] is False and again["files"] == []

    engines = {"real": {"hub": "kube-apiserver"}, "not_real": {}}
    other_engines = _run({"dest": str(dest), "engines": engines})
    assert other_engines["changed"] is True and other_engines["files"] == [str(dest / "summary.json")]

    moved = {**SUMMARY, "clusters": [{**SUMMARY["clusters"][0], "phase": "Deleting"}]}
    changed = _run({"dest": str(dest), "engines": engines, "_ansible_diff": True}, moved)
    assert changed["changed"] is True and str(dest / "summary.json") in changed["files"]
    assert '"phase": "Provisioned"' in changed["diff"]["before"]["summary.json"]
    assert '"phase": "Deleting"' in changed["diff"]["after"]["summary.json"]
    assert json.loads((dest / "summary.json").read_text())["clusters"][0]["phase"] == "Deleting"


def test_check_mode_writes_nothing_and_says_what_it_would_write(tmp_path: Path):
    dest = tmp_path / "summary"
    result = _run({"dest": str(dest), "_ansible_check_mode": True})
    assert result["changed"] is True and len(result["files"]) == 2
    assert not dest.exists()


def test_an_unwritable_dest_fails_naming_it(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run({"dest": str(blocker / "summary")})
    assert result["_kind"] == "fail" and f"{blocker / 'summary'} (dest)" in result["msg"]
