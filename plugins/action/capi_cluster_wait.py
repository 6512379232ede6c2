# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress for multicluster.gitops.capi_cluster_wait.

A module only reports when it ends, and creating a workload cluster takes 10-20 minutes. This action
plugin therefore runs the module in rounds on the task's host: each round lists, watches, and
returns as soon as any cluster's phase, conditions or kubeconfig Secret changed (or everything is
settled). The plugin prints what changed through Ansible's display, then starts the next round with
what was already shown and the time spent, so the timeout covers the whole call.
"""
from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

_MODULE = "multicluster.gitops.capi_cluster_wait"
_INTERNAL = ("waiting", "session")


def _label(entry: dict[str, Any], namespaces: set[str]) -> str:
    return entry["name"] if len(namespaces) <= 1 else f"{entry['namespace']}/{entry['name']}"


def _cond_text(c: dict[str, Any]) -> str:
    detail = ": ".join(p for p in (c.get("reason"), c.get("message")) if p)
    return f"{c['type']}={c['status']}" + (f" ({detail})" if detail and c.get("status") != "True" else "")


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What changed in one cluster's entry between two rounds, as short phrases."""
    if before is None:
        if after["state"] == "not_found":
            return ["not found yet"]
        parts = [f"phase {after['phase']}"]
        parts += [_cond_text(c) for c in after["conditions"] if c.get("status") != "True"]
        parts += ["kubeconfig Secret present"] if after["kubeconfig_secret_found"] else []
    else:
        parts = []
        if before.get("phase") != after.get("phase"):
            parts.append(f"phase {before.get('phase') or 'absent'} -> {after.get('phase') or 'absent'}")
        old = {c["type"]: c for c in before.get("conditions") or []}
        for c in after.get("conditions") or []:
            prev = old.get(c["type"])
            if prev is None or (prev.get("status"), prev.get("reason")) != (c.get("status"), c.get("reason")):
                parts.append(_cond_text(c))
        if after["kubeconfig_secret_found"] and not before.get("kubeconfig_secret_found"):
            parts.append(f"kubeconfig Secret {after['kubeconfig_secret']} present")
    if after["state"] in ("ready", "failed", "deleted") and (before is None or before["state"] != after["state"]):
        parts.append({"ready": f"READY after {after['seconds_waited']:.0f}s", "failed": "FAILED",
                      "deleted": "DELETED during the wait"}[after["state"]])
    return parts


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        super().run(tmp, task_vars)
        args = {k: v for k, v in self._task.args.items() if k != "session"}
        host = (task_vars or {}).get("inventory_hostname", "")
        started = time.monotonic()
        started_at = time.time()
        shown: dict[str, dict[str, Any]] = {}
        session: dict[str, Any] | None = None
        while True:
            round_args = dict(args)
            if not self._task.check_mode:
                session = dict(session or {}, elapsed=round(time.monotonic() - started, 3), started_at=started_at)
                round_args["session"] = session
            result = self._execute_module(module_name=_MODULE, module_args=round_args, task_vars=task_vars)
            self._show(host, shown, result.get("clusters") or [])
            if result.get("failed") or not result.get("waiting"):
                break
            session = result["session"]
        for key in _INTERNAL:
            result.pop(key, None)
        if isinstance(result.get("invocation"), dict):
            result["invocation"].get("module_args", {}).pop("session", None)
        return result

    @staticmethod
    def _show(host: str, shown: dict[str, dict[str, Any]], clusters: list[dict[str, Any]]) -> None:
        namespaces = {c["namespace"] for c in clusters}
        for entry in clusters:
            key = f"{entry['namespace']}/{entry['name']}"
            parts = changes(shown.get(key), entry)
            shown[key] = entry
            if parts:
                display.display(f"capi_cluster_wait [{host}] {_label(entry, namespaces)}: " + "; ".join(parts))
