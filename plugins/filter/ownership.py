# Copyright (c) multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the keys the collection owns on objects it shares with others.

The collection records the label keys it sets on an object in the annotation ``multicluster.gitops/owned-labels``
(sorted, comma-separated). On the next apply, a key in the live object's record that the object to apply no longer
has is set to null, which a JSON merge patch removes; a key that is not in the record was set by someone else and is
never touched. Documentation: ``owned_labels_pruned.yml`` beside this file and docs/faults-and-ownership.md.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

OWNED_LABELS = "multicluster.gitops/owned-labels"


def _meta(obj: Any) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}) if isinstance(obj, Mapping) else {}


def _identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    meta = _meta(obj)
    return group, str(obj.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or "")


def recorded_labels(obj: Any, annotation: str = OWNED_LABELS) -> list[str]:
    """The label keys recorded in ``obj``'s owned-labels annotation (none when it has no record)."""
    value = (_meta(obj).get("annotations") or {}).get(annotation) or ""
    return sorted({k.strip() for k in str(value).split(",") if k.strip()})


def owned_labels_pruned(objects: Any, live: Any, annotation: str = OWNED_LABELS) -> list[dict[str, Any]]:
    """``objects`` with ``null`` for every label that the matching live object records as the collection's and that
    the object no longer has. Objects without a record of their own, and live objects without one, are unchanged."""
    if not isinstance(objects, Sequence) or isinstance(objects, (str, bytes)):
        raise AnsibleFilterError("owned_labels_pruned expects a list of objects")
    by_identity = {_identity(o): o for o in (live or []) if isinstance(o, Mapping)}
    out = []
    for obj in objects:
        meta = _meta(obj)
        if not isinstance(obj, Mapping) or annotation not in (meta.get("annotations") or {}):
            out.append(obj)
            continue
        current = by_identity.get(_identity(obj))
        live_labels = _meta(current).get("labels") or {}
        wanted = meta.get("labels") or {}
        stale = [k for k in recorded_labels(current, annotation) if k not in wanted and k in live_labels]
        if not stale:
            out.append(obj)
            continue
        labels = {**wanted, **dict.fromkeys(stale)}
        out.append({**obj, "metadata": {**meta, "labels": labels}})
    return out


class FilterModule:
    """Ownership filters of multicluster.gitops."""

    def filters(self) -> dict[str, Any]:
        return {"owned_labels_pruned": owned_labels_pruned, "recorded_labels": recorded_labels}
