"""Render the hub roles' templates with real Ansible templating, after their preflight, in one ansible-playbook run.

Each case is one play: the role's defaults and vars are loaded by ``include_role`` (``tasks_from: preflight.yml``,
``public: true``) with the case's variables on top; then every template the role applies is rendered with the
``template`` lookup into a fact. A failing preflight is caught (``rescue``) and its message kept instead, so a single
run covers many cases; a last play writes every result to one JSON file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.ansible import ROOT, run_playbook

__all__ = ["Case", "Rendered", "render_cases", "ROLE_TEMPLATES"]

# Every template each role renders and applies (or passes to Helm as values).
ROLE_TEMPLATES: dict[str, list[str]] = {
    "ingress_tls": ["namespaces.yaml.j2", "ingress-nginx-values.yaml.j2", "cert-manager-values.yaml.j2",
                    "cluster-issuers.yaml.j2"],
    "argocd": ["argocd-values.yaml.j2", "server-ingress.yaml.j2"],
    "appsets": ["appproject.yaml.j2", "applicationsets.yaml.j2"],
}


@dataclass
class Case:
    id: str
    role: str
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rendered:
    ok: bool
    message: str = ""
    docs: dict[str, list[Any]] = field(default_factory=dict)

    def objects(self) -> list[dict[str, Any]]:
        """Every Kubernetes object (a mapping with apiVersion and kind) of every template."""
        return [d for docs in self.docs.values() for d in docs if isinstance(d, dict) and "kind" in d]


# A looped assert fails with "One or more items failed"; its items carry the messages.
_FAILURE_MESSAGE = (
    "{{ ([ansible_failed_result.msg | default('')] + (ansible_failed_result.results | default([])"
    " | selectattr('failed', 'defined') | selectattr('failed') | map(attribute='msg') | list)) | join(' ') }}"
)


def _fact(case: Case) -> str:
    return "hub_render_" + "".join(ch if ch.isalnum() else "_" for ch in case.id)


def _play(case: Case) -> dict[str, Any]:
    templates_dir = ROOT / "roles" / case.role / "templates"
    rendered = {tpl: "{{ lookup('ansible.builtin.template', '%s') }}" % (templates_dir / tpl)
                for tpl in ROLE_TEMPLATES[case.role]}
    return {
        "name": case.id,
        "hosts": "localhost",
        "gather_facts": False,
        "vars": case.vars,
        "tasks": [
            {
                "name": "Preflight and render",
                "block": [
                    {"name": "Preflight", "ansible.builtin.include_role": {
                        "name": f"multicluster.gitops.{case.role}", "tasks_from": "preflight.yml", "public": True}},
                    {"name": "Render", "ansible.builtin.set_fact": {_fact(case): {"ok": True, "docs": rendered}}},
                ],
                "rescue": [
                    {"name": "Record the failure", "ansible.builtin.set_fact": {
                        _fact(case): {"ok": False, "msg": _FAILURE_MESSAGE}}},
                ],
            },
        ],
    }


def render_cases(tmp_path: Path, cases: list[Case]) -> dict[str, Rendered]:
    """Run every case in one ansible-playbook process; return the rendered documents or the preflight message."""
    out = tmp_path / "rendered.json"
    collect = {
        "name": "Collect",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Write the results", "ansible.builtin.copy": {
            "content": "{{ {%s} | to_json }}" % ", ".join(f"'{c.id}': {_fact(c)}" for c in cases),
            "dest": str(out), "mode": "0600"}}],
    }
    playbook = tmp_path / "render.yml"
    playbook.write_text(yaml.safe_dump([_play(c) for c in cases] + [collect], sort_keys=False))
    result = run_playbook(tmp_path, playbook)
    if result.rc != 0:
        raise AssertionError(f"render playbook failed (rc={result.rc}):\n{result.stdout[-4000:]}")
    data = json.loads(out.read_text())
    rendered: dict[str, Rendered] = {}
    for case in cases:
        item = data[case.id]
        if not item["ok"]:
            rendered[case.id] = Rendered(ok=False, message=item["msg"])
            continue
        docs = {tpl: [d for d in yaml.safe_load_all(text) if d is not None] for tpl, text in item["docs"].items()}
        rendered[case.id] = Rendered(ok=True, docs=docs)
    return rendered


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
