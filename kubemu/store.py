"""The object store: one global resourceVersion counter, an event log for watches, subscribers."""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import ApiError

__all__ = ["Store", "Entry", "Event", "TypeKey", "clone"]

TypeKey = tuple[str, str]          # (group, plural)
ObjKey = tuple[str, str]           # (namespace or "", name)
MAX_LOG = 50_000                   # older events are compacted away automatically


@dataclass
class Entry:
    """A stored object and the server-side-apply ownership of its fields (manager -> paths)."""

    obj: dict[str, Any]
    owners: dict[str, list[list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """A change, as watches report it; ``prev`` is the object before a MODIFIED event."""

    rv: int
    type: str
    key: TypeKey
    obj: dict[str, Any]
    prev: dict[str, Any] | None = None


Subscriber = Callable[[Event], None]


def clone(value: Any) -> Any:
    """A deep copy of JSON data (several times faster than ``copy.deepcopy`` on large objects)."""
    return json.loads(json.dumps(value))


def _obj_key(obj: dict[str, Any]) -> ObjKey:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


class Store:
    """Thread-safe; every write takes the next resourceVersion and is logged for watches."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # type -> namespace ("" for cluster-scoped) -> name -> entry: a LIST in one namespace touches only it.
        self._objects: dict[TypeKey, dict[str, dict[str, Entry]]] = {}
        # ownerReferences uid -> the objects naming it: garbage collection without a scan of the store.
        self._dependents: dict[str, set[tuple[TypeKey, str, str]]] = {}
        self._rv = 0
        self._log: deque[Event] = deque()
        self._compacted = 0
        self._subscribers: dict[int, tuple[TypeKey, Subscriber]] = {}
        self._next_sub = 0

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def resource_version(self) -> int:
        return self._rv

    # ---- reads -----------------------------------------------------------------------------------------
    def _entry(self, key: TypeKey, namespace: str, name: str) -> Entry | None:
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def get(self, key: TypeKey, namespace: str, name: str) -> Entry | None:
        with self._lock:
            entry = self._entry(key, namespace, name)
            return Entry(clone(entry.obj), clone(entry.owners)) if entry else None

    def exists(self, key: TypeKey, namespace: str, name: str) -> bool:
        with self._lock:
            return self._entry(key, namespace, name) is not None

    def list(self, key: TypeKey, namespace: str | None = None, *, match: Callable[[dict[str, Any]], bool] | None = None,
             copy: bool = True) -> tuple[list[dict[str, Any]], int]:
        """Objects of a type (in one namespace, or all) sorted by namespace/name, and the list's rv.

        ``match`` filters before anything is copied; ``copy=False`` returns the stored objects themselves, which
        callers must not modify (writes replace stored objects, they never change them in place)."""
        with self._lock:
            buckets = self._objects.get(key, {})
            if namespace is None:
                chosen = [(ns, buckets[ns]) for ns in sorted(buckets)]
            else:
                chosen = [(namespace, buckets[namespace])] if namespace in buckets else []
            items = [bucket[name].obj for ns, bucket in chosen for name in sorted(bucket)]
            if match is not None:
                items = [o for o in items if match(o)]
            return ([clone(o) for o in items] if copy else items), self._rv

    def keys(self) -> list[TypeKey]:
        with self._lock:
            return list(self._objects)

    def iter_entries(self, key: TypeKey) -> Iterator[Entry]:
        with self._lock:
            yield from [Entry(clone(e.obj), clone(e.owners))
                        for bucket in self._objects.get(key, {}).values() for e in bucket.values()]

    def dependents(self, uid: str) -> list[tuple[TypeKey, str, str]]:
        """(type, namespace, name) of the objects whose ownerReferences name ``uid``."""
        with self._lock:
            return sorted(self._dependents.get(uid, ()))

    # ---- writes ----------------------------------------------------------------------------------------
    def _index_owners(self, key: TypeKey, obj: dict[str, Any], *, add: bool) -> None:
        meta = obj["metadata"]
        ref = (key, meta.get("namespace") or "", meta["name"])
        for owner in meta.get("ownerReferences") or []:
            uid = owner.get("uid") if isinstance(owner, dict) else None
            if not uid:
                continue
            if add:
                self._dependents.setdefault(uid, set()).add(ref)
            else:
                refs = self._dependents.get(uid)
                if refs is not None:
                    refs.discard(ref)
                    if not refs:
                        del self._dependents[uid]

    def _store(self, key: TypeKey, obj: dict[str, Any], entry: Entry | None) -> Entry | None:
        """Put ``entry`` (None: remove) at ``obj``'s place; returns the entry it replaced."""
        namespace, name = _obj_key(obj)
        buckets = self._objects.setdefault(key, {})
        bucket = buckets.setdefault(namespace, {})
        old = bucket.pop(name, None)
        if old is not None:
            self._index_owners(key, old.obj, add=False)
        if entry is not None:
            bucket[name] = entry
            self._index_owners(key, entry.obj, add=True)
        elif not bucket:
            del buckets[namespace]
        return old

    def put(self, key: TypeKey, obj: dict[str, Any], owners: dict[str, list[list[str]]] | None = None,
            *, event: bool = True) -> dict[str, Any]:
        """Store a copy of ``obj`` under the next resourceVersion; emits ADDED or MODIFIED.

        Stored objects are never mutated in place (writes replace them), so events and the
        returned object share the stored copy: callers must not modify it.
        """
        with self._lock:
            self._rv += 1
            obj = clone(obj)
            obj["metadata"]["resourceVersion"] = str(self._rv)
            old = self._entry(key, *_obj_key(obj))
            kept = owners if owners is not None else (old.owners if old else {})
            self._store(key, obj, Entry(obj, clone(kept)))
            if event:
                self._emit(Event(self._rv, "MODIFIED" if old else "ADDED", key, obj, old.obj if old else None))
            return obj

    def set_owners(self, key: TypeKey, obj: dict[str, Any], owners: dict[str, list[list[str]]]) -> None:
        """Record apply ownership without a new resourceVersion (ownership is not served)."""
        with self._lock:
            entry = self._entry(key, *_obj_key(obj))
            if entry:
                entry.owners = clone(owners)

    def remove(self, key: TypeKey, namespace: str, name: str) -> dict[str, Any] | None:
        """Delete an object; emits DELETED carrying the deletion's resourceVersion."""
        with self._lock:
            entry = self._entry(key, namespace, name)
            if entry is None:
                return None
            self._store(key, entry.obj, None)
            self._rv += 1
            obj = dict(entry.obj, metadata=dict(entry.obj["metadata"], resourceVersion=str(self._rv)))
            self._emit(Event(self._rv, "DELETED", key, obj))
            return obj

    def drop_type(self, key: TypeKey) -> list[dict[str, Any]]:
        """Remove every object of a type (its CRD went away)."""
        with self._lock:
            names = [(ns, name) for ns, bucket in self._objects.get(key, {}).items() for name in bucket]
            removed = [self.remove(key, ns, name) for ns, name in names]
            self._objects.pop(key, None)
            return [o for o in removed if o]

    # ---- watch support ---------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self._log.append(event)
        while len(self._log) > MAX_LOG:
            self._compacted = self._log.popleft().rv
        for key, callback in list(self._subscribers.values()):
            if key == event.key:
                callback(event)

    def subscribe(self, key: TypeKey, since: int | None, callback: Subscriber) -> tuple[int, list[Event]]:
        """Register ``callback`` for later events; return its id and the logged events after ``since``.

        Raises a 410 Gone ``ApiError`` when ``since`` is older than the last compaction.
        """
        with self._lock:
            replay: list[Event] = []
            if since is not None:
                if since < self._compacted:
                    raise ApiError("Gone", f"too old resource version: {since} ({self._compacted})", code=410)
                replay = [e for e in self._log if e.rv > since and e.key == key]
            self._next_sub += 1
            self._subscribers[self._next_sub] = (key, callback)
            return self._next_sub, replay

    def unsubscribe(self, sub_id: int) -> None:
        with self._lock:
            self._subscribers.pop(sub_id, None)

    def compact(self) -> None:
        """Forget the event log: watches from older resourceVersions now get 410 Gone."""
        with self._lock:
            self._compacted = self._rv
            self._log.clear()

    # ---- persistence -----------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {"resourceVersion": self._rv,
                    "objects": [{"group": k[0], "plural": k[1], "object": e.obj, "owners": e.owners}
                                for k, buckets in self._objects.items() for bucket in buckets.values()
                                for e in bucket.values()]}

    def load(self, data: dict[str, Any]) -> None:
        """Restore a dump; the event log starts empty (older watches get 410 Gone)."""
        with self._lock:
            for item in data.get("objects", []):
                key = (item["group"], item["plural"])
                self._store(key, item["object"], Entry(item["object"], item.get("owners", {})))
            self._rv = max(self._rv, int(data.get("resourceVersion", 0)))
            self._compacted = self._rv
