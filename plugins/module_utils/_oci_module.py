# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every OCI module's main() shares: the argument spec, the SDK check and the error mapping."""
from __future__ import annotations

from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import CollectionError
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import (
    HAS_OCI,
    OCI_AUTH_ARG_SPEC,
    OCI_IMPORT_ERROR,
    OCI_WAIT_ARG_SPEC,
)

__all__ = ["OCI_RESOURCE_ARG_SPEC", "oci_argument_spec", "run_oci_module"]


# Options of every module that manages one named resource (or set) in a compartment.
OCI_RESOURCE_ARG_SPEC: dict[str, Any] = {
    "compartment_id": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


def oci_argument_spec(spec: dict[str, Any], *, resource: bool = True) -> dict[str, Any]:
    """The module's own options plus the shared auth and wait options (and, with `resource`, the
    compartment / name / state options of a managed resource)."""
    return {**OCI_AUTH_ARG_SPEC, **OCI_WAIT_ARG_SPEC, **(OCI_RESOURCE_ARG_SPEC if resource else {}), **spec}


def run_oci_module(module: AnsibleModule, backend: Callable[[AnsibleModule], dict[str, Any]]) -> None:
    """Run `backend(module)`; exit with its result, or fail with the collection error's message and details."""
    if not HAS_OCI:
        module.fail_json(msg=missing_required_lib("oci"), exception=str(OCI_IMPORT_ERROR))
    try:
        result = backend(module)
    except CollectionError as e:
        module.fail_json(**e.to_fail_kwargs())
    for step in result.get("progress") or []:
        module.log(f"OCI progress: {step}")
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)
