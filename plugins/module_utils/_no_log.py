# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Masking many secret values in a module result in one pass.

Ansible masks ``no_log_values`` by trying every value on every string of the result: strings x values replace
calls, which for a registration of 10 000 clusters (20 000 key strings, 60 000 result strings) runs for minutes.
:class:`Masker` finds each value by an anchor, its first run of base64-like characters (one dictionary lookup
per character of the base64-like runs of a string), and replaces it as Ansible does, with ``********``.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = ["MASK", "WHOLE", "Masker"]

MASK = "*" * 8
WHOLE = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"  # what Ansible returns for a string that is a value itself
_PREFIX = 16
# Key material (base64, PEM bodies, JWTs) is made of these characters; a value is looked for only inside such runs.
_RUN = re.compile(r"[A-Za-z0-9+/=_.-]{%d,}" % _PREFIX)


class Masker:
    """Replaces every occurrence of the given values in the strings of a JSON-like value."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = {v for v in values if v}
        self.short: list[str] = []  # values without a base64-like run to index them by: tried one by one
        # The first run of _PREFIX base64-like characters of each value -> (value, offset of that run in it).
        self.anchors: dict[str, list[tuple[str, int]]] = {}
        for value in sorted(self.values, key=len, reverse=True):
            run = _RUN.search(value)
            if run is None:
                self.short.append(value)
            else:
                self.anchors.setdefault(value[run.start():run.start() + _PREFIX], []).append((value, run.start()))

    def _found(self, text: str) -> set[str]:
        found = set()
        for run in _RUN.finditer(text):
            for i in range(run.start(), run.end() - _PREFIX + 1):
                for value, offset in self.anchors.get(text[i:i + _PREFIX], ()):
                    if i >= offset and text.startswith(value, i - offset):
                        found.add(value)
        return found

    def text(self, text: str) -> str:
        if text in self.values:
            return WHOLE
        if self.anchors:
            for value in sorted(self._found(text), key=len, reverse=True):
                text = text.replace(value, MASK)
        for value in self.short:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        return value
