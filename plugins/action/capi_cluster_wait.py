# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress for multicluster.gitops.capi_cluster_wait.

A module only reports when it ends, and creating a workload cluster takes 10-20 minutes. This action
plugin therefore runs the module in rounds on the task's host: each round lists, watches, and
returns as soon as any cluster's phase, conditions or kubeconfig Secret changed (or everything is
settled). The plugin prints what changed through Ansible's display, then starts the next round with
what was already shown and the time spent, so the timeout covers the whole call.

A round also returns when nothing changed for what is left of the ``heartbeat`` interval; the plugin then
prints one heartbeat line (how many clusters are ready, failed and pending, the first pending ones), so a
long wait shows it is alive every ``heartbeat`` seconds even when no cluster moves.
"""
from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

_MODULE = "multicluster.gitops.capi_cluster_wait"
_INTERNAL = ("waiting", "session")
# Pending clusters named in a heartbeat line; the rest are counted.
_HEARTBEAT_NAMES = 5
# Shortest quiet period asked of a round (a heartbeat is never printed more often than a round can start).
_MIN_QUIET = 1.0


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


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def heartbeat_line(clusters: list[dict[str, Any]], *, elapsed: float, timeout: float | None) -> str:
    """One line saying the wait is alive: counts, the first pending clusters with their phase, time left."""
    namespaces = {c["namespace"] for c in clusters}
    ready = sum(1 for c in clusters if c["state"] == "ready")
    failed = sum(1 for c in clusters if c["state"] in ("failed", "deleted"))
    pending = [c for c in clusters if c["state"] in ("waiting", "not_found")]
    names = [f"{_label(c, namespaces)} ({c.get('phase') or 'not found'})" for c in pending[:_HEARTBEAT_NAMES]]
    more = f" and {len(pending) - _HEARTBEAT_NAMES} more" if len(pending) > _HEARTBEAT_NAMES else ""
    counts = f"{ready} of {len(clusters)} Cluster(s) ready" + (f", {failed} failed" if failed else "")
    left = f"; timeout in {_duration(max(timeout - elapsed, 0))}" if timeout else ""
    return (f"still waiting after {_duration(elapsed)}: {counts}, {len(pending)} pending: "
            + ", ".join(names) + more + left)


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
        heartbeat = self._heartbeat(args)
        last_output = started
        while True:
            round_args = dict(args)
            if not self._task.check_mode:
                session = dict(session or {}, elapsed=round(time.monotonic() - started, 3), started_at=started_at)
                if heartbeat:
                    session["quiet_seconds"] = max(heartbeat - (time.monotonic() - last_output), _MIN_QUIET)
                round_args["session"] = session
            result = self._execute_module(module_name=_MODULE, module_args=round_args, task_vars=task_vars)
            clusters = result.get("clusters") or []
            now = time.monotonic()
            if self._show(host, shown, clusters):
                last_output = now
            elif heartbeat and result.get("waiting") and now - last_output >= heartbeat:
                timeout = args.get("timeout", 1800)
                display.display(f"capi_cluster_wait [{host}] " + heartbeat_line(
                    clusters, elapsed=now - started, timeout=float(timeout) if str(timeout).isdigit() else None))
                last_output = now
            if result.get("failed") or not result.get("waiting"):
                break
            session = result["session"]
        for key in _INTERNAL:
            result.pop(key, None)
        if isinstance(result.get("invocation"), dict):
            result["invocation"].get("module_args", {}).pop("session", None)
        return result

    @staticmethod
    def _heartbeat(args: dict[str, Any]) -> float:
        """The heartbeat interval in seconds (0: none); the module's argument spec validates it later."""
        try:
            return max(float(args.get("heartbeat", 30)), 0.0)
        except (TypeError, ValueError):
            return 0.0

    @staticmethod
    def _show(host: str, shown: dict[str, dict[str, Any]], clusters: list[dict[str, Any]]) -> int:
        """Print what changed since the last round; the number of lines printed."""
        namespaces = {c["namespace"] for c in clusters}
        printed = 0
        for entry in clusters:
            key = f"{entry['namespace']}/{entry['name']}"
            parts = changes(shown.get(key), entry)
            shown[key] = entry
            if parts:
                display.display(f"capi_cluster_wait [{host}] {_label(entry, namespaces)}: " + "; ".join(parts))
                printed += 1
        return printed
