"""Watches: initial state, replay from a resourceVersion, selectors, bookmarks, timeouts, 410 Gone."""
from __future__ import annotations

import threading
import time

import pytest
from kubernetes import watch

from .conftest import ROOT_CA, Raw, cm


def events(raw: Raw, path: str, count: int | None = None, timeout: float = 10) -> list[tuple[str, str]]:
    out = []
    for ev in raw.watch(path, timeout):
        if ev["object"]["metadata"].get("name") == ROOT_CA:
            continue
        out.append((ev["type"], ev["object"]["metadata"].get("name", "")))
        if count is not None and len(out) == count:
            break
    return out


def test_watch_without_resource_version_starts_with_current_state(raw, core, ns):
    core.create_namespaced_config_map(ns, cm("a"))
    got = events(raw, f"/api/v1/namespaces/{ns}/configmaps?watch=true&timeoutSeconds=1")
    assert got == [("ADDED", "a")]


def test_watch_replays_later_events_from_a_resource_version(raw, core, ns):
    rv = core.create_namespaced_config_map(ns, cm("a")).metadata.resource_version
    core.patch_namespaced_config_map("a", ns, {"data": {"x": "1"}})
    core.create_namespaced_config_map(ns, cm("b"))
    core.delete_namespaced_config_map("a", ns)
    got = events(raw, f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    assert got == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_watch_streams_live_events_with_the_python_client(core, ns):
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5):
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.2)
    core.create_namespaced_config_map(ns, cm("live"))
    core.delete_namespaced_config_map("live", ns)
    thread.join(10)
    assert seen == [("ADDED", "live"), ("DELETED", "live")]


def test_label_selector_turns_transitions_into_added_and_deleted(raw, core, ns):
    rv = core.create_namespaced_config_map(ns, cm("a", {"app": "x"})).metadata.resource_version
    core.patch_namespaced_config_map("a", ns, {"metadata": {"labels": {"app": "y"}}})
    core.patch_namespaced_config_map("a", ns, {"metadata": {"labels": {"app": "x"}}})
    core.create_namespaced_config_map(ns, cm("other", {"app": "z"}))
    got = events(raw, f"/api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=app%3Dx"
                      f"&resourceVersion={rv}&timeoutSeconds=1")
    assert got == [("DELETED", "a"), ("ADDED", "a")]


def test_field_selector_on_watch(raw, core, ns):
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, cm("a"))
    core.create_namespaced_config_map(ns, cm("b"))
    got = events(raw, f"/api/v1/namespaces/{ns}/configmaps?watch=true&fieldSelector=metadata.name%3Db"
                      f"&resourceVersion={rv}&timeoutSeconds=1")
    assert got == [("ADDED", "b")]


def test_bookmarks_and_timeout(raw, ns):
    start = time.monotonic()
    got = [e for e in raw.watch(f"/api/v1/namespaces/{ns}/configmaps?watch=true&allowWatchBookmarks=true"
                                "&timeoutSeconds=1") if e["object"]["metadata"].get("name") != ROOT_CA]
    assert 0.9 <= time.monotonic() - start < 5
    assert got and all(e["type"] == "BOOKMARK" for e in got)
    assert got[0]["object"]["kind"] == "ConfigMap" and int(got[0]["object"]["metadata"]["resourceVersion"]) > 0


@pytest.mark.kubemu_only("compact() is a kubemu hook; the real watch cache keeps serving an old resourceVersion "
                         "after an etcd compaction while it is inside the cache window")
def test_compaction_gives_410_gone(kube_server_factory):
    srv = kube_server_factory("compact")
    raw = Raw(srv)
    first = srv.create(cm("a") | {"metadata": {"name": "a", "namespace": "default"}})
    srv.create(cm("b") | {"metadata": {"name": "b", "namespace": "default"}})
    srv.compact()
    rv = first["metadata"]["resourceVersion"]
    got = list(raw.watch(f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"))
    assert len(got) == 1 and got[0]["type"] == "ERROR"
    assert got[0]["object"]["code"] == 410 and got[0]["object"]["reason"] == "Gone"


@pytest.mark.kubemu_only("drop_watches() is a kubemu hook; kube-apiserver ends watches on timeout or shutdown only")
def test_drop_watches_ends_open_streams(kube_server_factory):
    srv = kube_server_factory("drop")
    raw = Raw(srv)
    ended = threading.Event()

    def consume() -> None:
        list(raw.watch("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=60", timeout=30))
        ended.set()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.3)
    srv.drop_watches()
    assert ended.wait(5)
    thread.join()
