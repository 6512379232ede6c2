"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and server-side apply with field ownership."""
from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, Cause

__all__ = ["merge_patch", "json_patch", "apply_fields", "Apply", "server_side_apply"]

Path = tuple[str, ...]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError.bad_request(f"json patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise ApiError("Invalid", f"json patch: path /{'/'.join(parts)} does not exist", code=422)
    return doc


def _index(container: list[Any], part: str, *, inserting: bool) -> int:
    if part == "-" and inserting:
        return len(container)
    if not part.isdigit() or int(part) > len(container) - (0 if inserting else 1):
        raise ApiError("Invalid", f"json patch: index {part!r} out of range", code=422)
    return int(part)


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        parent.insert(_index(parent, last, inserting=True), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError("Invalid", f"json patch: cannot add below a scalar at /{'/'.join(parts)}", code=422)
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        parent.pop(_index(parent, last, inserting=False))
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise ApiError("Invalid", f"json patch: path /{'/'.join(parts)} does not exist", code=422)
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise ApiError.bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError.bad_request(f"invalid json patch operation: {op!r}")
        parts = _pointer(op["path"])
        kind = op["op"]
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _resolve(doc, parts)
            doc = _add(_remove(doc, parts), parts, copy.deepcopy(op.get("value"))) if parts else op.get("value")
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_resolve(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _resolve(doc, parts) != op.get("value"):
                raise ApiError("Invalid", f"json patch test operation failed at {op['path']}", code=422)
        else:
            raise ApiError.bad_request(f"unknown json patch operation {kind!r}")
    return doc


# ---- server-side apply ---------------------------------------------------------------------------------

# Identity fields that are not "owned": they name the object rather than configure it.
_UNOWNED_METADATA = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                     "managedFields", "deletionTimestamp", "selfLink"}


def apply_fields(config: dict[str, Any]) -> set[Path]:
    """Leaf paths an applied configuration sets; lists and scalars are atomic leaves."""
    out: set[Path] = set()

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, path + (key,))
        else:
            out.add(path)

    for key, value in config.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mval in value.items():
                if mkey not in _UNOWNED_METADATA:
                    walk(mval, ("metadata", mkey))
        else:
            walk(value, (key,))
    return out


def _get(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


_MISSING = object()


def _delete_path(obj: dict[str, Any], path: Path) -> None:
    parents = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    # Drop maps the removal emptied, as the apply merge does.
    for parent, key in reversed(parents):
        if parent[key] == {}:
            del parent[key]
        else:
            break


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _deep_merge(target: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    for key, value in config.items():
        if isinstance(value, dict) and value and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class Apply:
    """Outcome of one apply: the merged object and the new ownership table."""

    def __init__(self, obj: dict[str, Any], owners: dict[str, list[list[str]]]) -> None:
        self.obj = obj
        self.owners = owners


def server_side_apply(current: dict[str, Any], config: dict[str, Any], owners: dict[str, list[list[str]]],
                      manager: str, *, force: bool) -> Apply:
    """Merge ``config`` into ``current`` for ``manager``.

    Ownership is tracked per leaf path, for appliers only.  A field another applier owns with a
    different value is a conflict (409) unless ``force``, which moves ownership; fields the manager
    applied before and no longer applies are removed unless another applier still owns them.
    """
    table = {m: {tuple(p) for p in paths} for m, paths in owners.items()}
    applied = apply_fields(config)
    conflicts = _conflicts(current, config, table, applied, manager)
    if conflicts and not force:
        raise _conflict_error(current, conflicts)
    for other, path in conflicts:  # only reached with force: the manager takes these fields over
        table[other] = {p for p in table[other] if not _overlaps(p, path)}
    merged = copy.deepcopy(current)
    for path in table.get(manager, set()) - applied:
        still_owned = any(_overlaps(path, p) for m, ps in table.items() if m != manager for p in ps)
        if not still_owned and not any(_overlaps(path, a) for a in applied):
            _delete_path(merged, path)
    _deep_merge(merged, {k: v for k, v in config.items() if k not in ("apiVersion", "kind")})
    table[manager] = applied
    return Apply(merged, {m: sorted(list(p) for p in ps) for m, ps in table.items() if ps})


def _conflicts(current: dict[str, Any], config: dict[str, Any], table: dict[str, set[Path]],
               applied: set[Path], manager: str) -> list[tuple[str, Path]]:
    found = []
    for other, paths in table.items():
        if other == manager:
            continue
        for path in applied:
            if any(_overlaps(path, p) for p in paths) and _get(current, path) != _get(config, path):
                found.append((other, path))
    return sorted(found)


def _conflict_error(current: dict[str, Any], conflicts: list[tuple[str, Path]]) -> ApiError:
    causes = [Cause("FieldManagerConflict", f'conflict with "{m}"', "." + ".".join(p)) for m, p in conflicts]
    listed = "\n".join(f'* {c.message}: {c.field}' for c in causes)
    meta = current.get("metadata") or {}
    return ApiError("Conflict", f"Apply failed with {len(causes)} conflict(s): {listed}",
                    name=meta.get("name", ""), kind=current.get("kind", ""), causes=causes)
