"""owned_labels_pruned / recorded_labels: only the keys the collection recorded, and no longer wants, are removed."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multicluster.gitops.plugins.filter.ownership import (
    OWNED_LABELS,
    FilterModule,
    owned_labels_pruned,
    recorded_labels,
)


def _cluster(labels, record=None, *, version="v1beta2", name="c1"):
    meta = {"name": name, "namespace": "ns", "labels": dict(labels)}
    if record is not None:
        meta["annotations"] = {OWNED_LABELS: record}
    return {"apiVersion": f"cluster.x-k8s.io/{version}", "kind": "Cluster", "metadata": meta}


def test_recorded_labels():
    assert recorded_labels(_cluster({}, "tier, env,,env")) == ["env", "tier"]
    assert recorded_labels(_cluster({})) == []
    assert recorded_labels(None) == []


@pytest.mark.parametrize("live, want, expected", [
    # recorded, no longer wanted, still on the live object: null
    (_cluster({"env": "a", "tier": "b"}, "env,tier"), _cluster({"env": "a"}, "env"), {"env": "a", "tier": None}),
    # set by someone else (not in the record): untouched
    (_cluster({"env": "a", "team": "x"}, "env"), _cluster({"env": "a"}, "env"), {"env": "a"}),
    # recorded but already gone from the live object: nothing to remove
    (_cluster({"env": "a"}, "env,tier"), _cluster({"env": "a"}, "env"), {"env": "a"}),
    # live object without a record (an older version wrote it): nothing is known as ours
    (_cluster({"env": "a", "tier": "b"}), _cluster({"env": "a"}, "env"), {"env": "a"}),
    # another version of the same API group is the same object
    (_cluster({"env": "a", "tier": "b"}, "env,tier", version="v1beta1"), _cluster({"env": "a"}, "env"),
     {"env": "a", "tier": None}),
], ids=["removed", "foreign-kept", "already-gone", "no-live-record", "other-version"])
def test_owned_labels_pruned(live, want, expected):
    assert owned_labels_pruned([want], [live])[0]["metadata"]["labels"] == expected


def test_objects_without_their_own_record_or_live_object_are_unchanged():
    plain = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    new = _cluster({"env": "a"}, "env", name="new")
    other = _cluster({"env": "a", "tier": "b"}, "env,tier", name="other")
    assert owned_labels_pruned([plain, new], [other]) == [plain, new]


def test_input_must_be_a_list():
    with pytest.raises(AnsibleFilterError):
        owned_labels_pruned("Cluster", [])
    assert set(FilterModule().filters()) == {"owned_labels_pruned", "recorded_labels"}
