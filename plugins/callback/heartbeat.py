# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: heartbeat
type: notification
short_description: Print a line while a task runs long without output
version_added: 0.1.0
description:
  - A module reports only when it ends, so a task that waits (C(kubernetes.core.k8s) with C(wait), a Helm install with
    C(wait), an OCI work request) prints nothing for minutes. This callback prints one line every O(interval) seconds
    while a task is still running and nothing was printed for it, naming the task, the hosts still running it and the
    time spent.
  - Retries of C(until) loops already print C(FAILED - RETRYING) lines; each of them counts as output, so the heartbeat
    only fills longer gaps. C(multicluster.gitops.capi_cluster_wait) prints its own progress and heartbeat and is left
    alone.
  - Enabled in the collection's C(ansible.cfg) (C(callbacks_enabled = multicluster.gitops.heartbeat)).
requirements:
  - enabled in C(callbacks_enabled)
options:
  interval:
    description: Seconds without output before a line is printed (and between two lines); C(0) disables it.
    type: int
    default: 30
    env:
      - name: MCG_HEARTBEAT_INTERVAL
    ini:
      - section: callback_heartbeat
        key: interval
"""

import sys
import threading
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

# Tasks that print their own progress and heartbeat (through their action plugin).
_OWN_HEARTBEAT = frozenset({"multicluster.gitops.capi_cluster_wait", "capi_cluster_wait"})
# How often the ticker thread looks at the clock (seconds).
_TICK = 0.5


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "multicluster.gitops.heartbeat"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._task: str | None = None
        self._started = 0.0
        self._last_output = 0.0
        self._hosts: list[str] = []
        self._interval = 30.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_options(self, task_keys: Any = None, var_options: Any = None, direct: Any = None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._interval = max(float(self.get_option("interval") or 0), 0.0)

    # --- events -------------------------------------------------------------------------------------
    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._begin(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._begin(task)

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        with self._lock:
            if self._task is not None:
                self._hosts.append(host.get_name())

    def v2_runner_retry(self, result: Any) -> None:
        self._output()

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._output()

    def v2_runner_item_on_failed(self, result: Any) -> None:
        self._output()

    def v2_runner_item_on_skipped(self, result: Any) -> None:
        self._output()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._done(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._done(result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._done(result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._done(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._stop.set()
        with self._lock:
            self._task = None

    # --- state ----------------------------------------------------------------------------------------
    def _begin(self, task: Any) -> None:
        with self._lock:
            own = task.action in _OWN_HEARTBEAT or getattr(task, "resolved_action", None) in _OWN_HEARTBEAT
            self._task = None if own or not self._interval else task.get_name().strip()
            self._started = self._last_output = time.monotonic()
            self._hosts = []
        if self._task is not None and self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="mcg-heartbeat", daemon=True)
            self._thread.start()

    def _output(self) -> None:
        with self._lock:
            self._last_output = time.monotonic()

    def _done(self, result: Any) -> None:
        name = result._host.get_name()  # pylint: disable=protected-access
        with self._lock:
            self._last_output = time.monotonic()
            if name in self._hosts:
                self._hosts.remove(name)

    def _tick(self) -> None:
        while not self._stop.wait(_TICK):
            with self._lock:
                now = time.monotonic()
                if self._task is None or not self._hosts or now - self._last_output < self._interval:
                    continue
                self._last_output = now
                line = (f"  ... still running after {_duration(now - self._started)}: {self._task} "
                        f"[{', '.join(self._hosts[:5])}{' ...' if len(self._hosts) > 5 else ''}]")
            self._display.display(line)
            sys.stdout.flush()
