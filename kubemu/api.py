"""API semantics over the store: create/get/list/update/patch/delete and the built-in controllers.

The HTTP layer (``kubemu.http``) parses requests and calls these methods; tests acting as controllers
reach the same code through :class:`kubemu.KubeServer`'s direct-access methods.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import secrets as pysecrets
import uuid
from typing import Any, Callable, TypeVar

import yaml

from .errors import ApiError, Cause, success_status
from .patching import apply_fields, json_patch, merge_patch, server_side_apply
from .resources import Registry, ResourceType, crd_to_type
from .schema import validate_custom_resource
from .selectors import Selector
from .store import Entry, Store, clone

__all__ = ["Api", "PROTECTED_NAMESPACES", "MERGE", "JSON_PATCH", "STRATEGIC", "APPLY"]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SERVER_SET_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "generation", "resourceVersion")
_NAMESPACE_KEY = ("", "namespaces")
_SECRET_KEY = ("", "secrets")
_CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
T = TypeVar("T")


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run an API operation under the store's lock: check-then-write steps stay atomic across threads."""
    @functools.wraps(method)
    def wrapper(self: "Api", *args: Any, **kwargs: Any) -> T:
        with self.store.lock:
            return method(self, *args, **kwargs)
    return wrapper


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """What ``generation`` tracks: everything outside metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Api:
    """One emulated API server's behaviour (no HTTP here)."""

    def __init__(self, store: Store, registry: Registry, *, ca_pem: bytes) -> None:
        self.store = store
        self.registry = registry
        self.ca_pem = ca_pem

    # ---- lookups ---------------------------------------------------------------------------------------
    def resolve(self, api_version: str, kind: str) -> ResourceType:
        rtype = self.registry.by_kind(api_version, kind)
        if rtype is None:
            raise ApiError("NotFound", f'the server could not find the requested resource ({kind} {api_version})')
        return rtype

    def served(self, rtype: ResourceType, version: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as the requested version serves it (no field conversion)."""
        out = {"apiVersion": rtype.api_version(version), "kind": rtype.kind}
        out.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
        return out

    def _entry(self, rtype: ResourceType, namespace: str, name: str) -> Entry:
        entry = self.store.get(rtype.key, namespace if rtype.namespaced else "", name)
        if entry is None:
            raise ApiError.not_found(rtype.plural, rtype.group, name)
        return entry

    def _require_namespace(self, rtype: ResourceType, namespace: str) -> None:
        if rtype.namespaced and not self.store.exists(_NAMESPACE_KEY, "", namespace):
            raise ApiError.not_found("namespaces", "", namespace)

    def token_valid(self, token: str) -> bool:
        """Whether ``token`` is the ``data.token`` of a service-account-token Secret."""
        encoded = _b64(token)
        return bool(self.store.list(_SECRET_KEY, match=lambda o: o.get("type") == SA_TOKEN_TYPE and (
            o.get("data") or {}).get("token") == encoded, copy=False)[0])

    # ---- reads -----------------------------------------------------------------------------------------
    @_locked
    def get(self, rtype: ResourceType, version: str, namespace: str, name: str) -> dict[str, Any]:
        return self.served(rtype, version, self._entry(rtype, namespace, name).obj)

    @_locked
    def list(self, rtype: ResourceType, version: str, namespace: str | None,
             labels: Selector, fields: Selector) -> dict[str, Any]:
        # Like kube-apiserver: listing in a namespace that does not exist is an empty list, not a 404.
        items, rv = self.store.list(rtype.key, namespace if rtype.namespaced else None,
                                    match=lambda o: labels.matches(o) and fields.matches(o), copy=False)
        chosen = [self.served(rtype, version, o) for o in items]
        return {"apiVersion": rtype.api_version(version), "kind": f"{rtype.kind}List",
                "metadata": {"resourceVersion": str(rv)}, "items": chosen}

    # ---- create ----------------------------------------------------------------------------------------
    @_locked
    def create(self, rtype: ResourceType, version: str, namespace: str, body: Any, *, dry_run: bool = False,
               keep_status: bool = False, owners: dict[str, list[list[str]]] | None = None) -> dict[str, Any]:
        obj = self._checked_body(rtype, version, namespace, body)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + pysecrets.token_hex(3)[:5]
        self._validate_name(rtype, meta.get("name", ""))
        if rtype.key != _NAMESPACE_KEY:
            self._require_namespace(rtype, meta.get("namespace", ""))
        if self.store.exists(rtype.key, meta.get("namespace", ""), meta["name"]):
            raise ApiError.already_exists(rtype.plural, rtype.group, meta["name"])
        for key in _SERVER_SET_METADATA:
            meta.pop(key, None)
        if rtype.status and not keep_status:
            obj.pop("status", None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
        if rtype.tracks_generation:
            meta["generation"] = 1
        obj = self._admit(rtype, version, obj)
        if dry_run:
            return self.served(rtype, version, obj)
        stored = self.store.put(rtype.key, obj, owners or {})
        self._after_create(rtype, stored)
        return self.served(rtype, version, stored)

    def _checked_body(self, rtype: ResourceType, version: str, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the request body must be a JSON object")
        obj = clone(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        served = {rtype.api_version(v) for v in rtype.versions}
        if kind and kind != rtype.kind or api_version and api_version not in served:
            raise ApiError.bad_request(f"the API version in the data ({api_version}) does not match the "
                                       f"expected API version ({rtype.api_version(version)}) or kind "
                                       f"({kind} vs {rtype.kind})")
        obj["apiVersion"], obj["kind"] = rtype.api_version(version), rtype.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.bad_request("metadata must be an object")
        if rtype.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise ApiError.bad_request("the namespace of the provided object does not match the "
                                           "namespace sent on the request")
            meta["namespace"] = namespace or meta.get("namespace") or ""
        else:
            meta.pop("namespace", None)
        return obj

    def _validate_name(self, rtype: ResourceType, name: str) -> None:
        if not name:
            raise ApiError.invalid(rtype.kind, rtype.group, "", [
                Cause("FieldValueRequired", "Required value: name or generateName is required", "metadata.name")])
        if rtype.group == "rbac.authorization.k8s.io":
            ok = "/" not in name and "%" not in name and name not in (".", "..")
        elif rtype.key == _NAMESPACE_KEY:
            ok = len(name) <= 63 and bool(_LABEL.match(name))
        else:
            ok = len(name) <= 253 and bool(_SUBDOMAIN.match(name))
        if not ok:
            msg = (f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of lower case '
                   "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
            raise ApiError.invalid(rtype.kind, rtype.group, name, [Cause("FieldValueInvalid", msg, "metadata.name")])

    # ---- admission: defaulting, built-in controllers' synchronous parts, schema validation ---------------
    def _admit(self, rtype: ResourceType, version: str, obj: dict[str, Any]) -> dict[str, Any]:
        if rtype.key == _SECRET_KEY:
            self._admit_secret(obj)
        elif rtype.key == _NAMESPACE_KEY:
            obj.setdefault("status", {}).setdefault("phase", "Active")
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif rtype.key == _CRD_KEY:
            self._admit_crd(obj)
        if rtype.crd:
            causes = validate_custom_resource(obj, rtype.schemas.get(version) or {})
            if causes:
                raise ApiError.invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), causes)
        return obj

    def _admit_secret(self, obj: dict[str, Any]) -> None:
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            obj.setdefault("data", {}).update({k: _b64(str(v)) for k, v in string_data.items()})
        obj.setdefault("type", "Opaque")
        annotations = obj["metadata"].get("annotations") or {}
        if obj["type"] == SA_TOKEN_TYPE and annotations.get(SA_NAME_ANNOTATION):
            data = obj.setdefault("data", {})
            if not data.get("token"):  # what the token controller fills in
                data["token"] = _b64(pysecrets.token_urlsafe(32))
            data.setdefault("ca.crt", _b64(self.ca_pem))
            data.setdefault("namespace", _b64(obj["metadata"].get("namespace", "")))

    def _admit_crd(self, obj: dict[str, Any]) -> None:
        try:
            rtype = crd_to_type(obj)
        except (KeyError, TypeError) as e:
            raise ApiError.invalid("CustomResourceDefinition", "apiextensions.k8s.io",
                                   obj["metadata"].get("name", ""),
                                   [Cause("FieldValueRequired", f"Required value: {e}", "spec")]) from e
        expected = f"{rtype.plural}.{rtype.group}"
        if obj["metadata"]["name"] != expected:
            raise ApiError.invalid("CustomResourceDefinition", "apiextensions.k8s.io", obj["metadata"]["name"], [
                Cause("FieldValueInvalid", f'Invalid value: "{obj["metadata"]["name"]}": must be spec.names.plural'
                      f"+\".\"+spec.group", "metadata.name")])
        spec = obj["spec"]
        stored = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
        obj["status"] = {
            "acceptedNames": spec.get("names", {}),
            "storedVersions": stored,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now()},
            ],
        }

    def _after_create(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        if rtype.key == _CRD_KEY:
            self.registry.add_crd(crd_to_type(obj))
        elif rtype.key == _NAMESPACE_KEY:
            sa_type = self.registry.lookup("", "v1", "serviceaccounts")
            name = obj["metadata"]["name"]
            if sa_type and not self.store.exists(sa_type.key, name, "default"):
                self.create(sa_type, "v1", name, {"metadata": {"name": "default"}})

    # ---- update / patch --------------------------------------------------------------------------------
    @_locked
    def update(self, rtype: ResourceType, version: str, namespace: str, name: str, body: Any, *,
               dry_run: bool = False, subresource: str = "") -> dict[str, Any]:
        entry = self._entry(rtype, namespace, name)
        new = self._checked_body(rtype, version, namespace, body)
        self._check_identity(rtype, new, name, entry)
        return self._commit(rtype, version, entry, new, dry_run=dry_run, subresource=subresource)

    @_locked
    def patch(self, rtype: ResourceType, version: str, namespace: str, name: str, content_type: str,
              raw: bytes, *, dry_run: bool = False, subresource: str = "", field_manager: str = "",
              force: bool = False) -> tuple[dict[str, Any], bool]:
        """Returns the result and whether it was created (only server-side apply creates)."""
        if content_type == APPLY:
            return self._apply(rtype, version, namespace, name, raw, dry_run=dry_run, subresource=subresource,
                               field_manager=field_manager, force=force)
        if content_type == STRATEGIC and rtype.crd:
            raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                           f"media types include: {JSON_PATCH}, {MERGE}, {APPLY}", code=415)
        if content_type not in (MERGE, JSON_PATCH, STRATEGIC):
            raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                           f"media types include: {JSON_PATCH}, {MERGE}, {APPLY}, {STRATEGIC}", code=415)
        patch = _parse_json(raw)
        entry = self._entry(rtype, namespace, name)
        current = self.served(rtype, version, entry.obj)
        # Strategic merge on built-ins is treated as a JSON merge patch (lists are replaced).
        patched = json_patch(current, patch) if content_type == JSON_PATCH else merge_patch(current, patch)
        if not isinstance(patched, dict):
            raise ApiError.bad_request("the patch must produce an object")
        new = self._checked_body(rtype, version, namespace, patched)
        self._check_identity(rtype, new, name, entry)
        return self._commit(rtype, version, entry, new, dry_run=dry_run, subresource=subresource), False

    @staticmethod
    def _check_identity(rtype: ResourceType, new: dict[str, Any], name: str, entry: Entry) -> None:
        meta = new["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise ApiError.bad_request(f"the name of the object ({meta['name']}) does not match the name on the "
                                       f"URL ({name})")
        meta["name"] = name
        stale = meta.get("resourceVersion")
        if stale and stale != entry.obj["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rtype.plural, rtype.group, name)

    def _commit(self, rtype: ResourceType, version: str, entry: Entry, new: dict[str, Any], *,
                dry_run: bool, subresource: str,
                owners: dict[str, list[list[str]]] | None = None) -> dict[str, Any]:
        old = entry.obj
        new = self._keep_other_part(rtype, old, new, subresource)
        for key in _SERVER_SET_METADATA:
            if key in old["metadata"]:
                new["metadata"][key] = old["metadata"][key]
            else:
                new["metadata"].pop(key, None)
        new = self._admit(rtype, version, new)
        if rtype.tracks_generation and _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        comparable_old = {k: v for k, v in old.items() if k not in ("apiVersion",)}
        comparable_new = {k: v for k, v in new.items() if k not in ("apiVersion",)}
        if comparable_new == comparable_old:  # a no-op write changes nothing, not even resourceVersion
            if owners is not None and not dry_run:
                self.store.set_owners(rtype.key, old, owners)
            return self.served(rtype, version, old)
        if dry_run:
            return self.served(rtype, version, new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self.store.put(rtype.key, new, owners, event=False)
            return self.served(rtype, version, self._remove(rtype, new))
        stored = self.store.put(rtype.key, new, owners)
        if rtype.key == _CRD_KEY:
            self.registry.add_crd(crd_to_type(stored))
        return self.served(rtype, version, stored)

    @staticmethod
    def _keep_other_part(rtype: ResourceType, old: dict[str, Any], new: dict[str, Any],
                         subresource: str) -> dict[str, Any]:
        """Main-resource writes keep the stored status; ``/status`` writes keep everything else."""
        if subresource == "*":  # direct store access by a test acting as controller: replace everything
            return new
        if subresource == "status":
            result = clone(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            return result
        if rtype.status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        return new

    def _apply(self, rtype: ResourceType, version: str, namespace: str, name: str, raw: bytes, *,
               dry_run: bool, subresource: str, field_manager: str, force: bool) -> tuple[dict[str, Any], bool]:
        if not field_manager:
            raise ApiError.invalid("PatchOptions", "meta.k8s.io", "", [
                Cause("FieldValueRequired", "Required value: is required for apply patch", "fieldManager")])
        config = _parse_yaml(raw)
        if not config.get("apiVersion") or not config.get("kind"):
            raise ApiError.bad_request("apply patches need apiVersion and kind")
        config = self._checked_body(rtype, version, namespace, config)
        if config["metadata"].get("name", name) != name:
            raise ApiError.bad_request(f"the name of the object ({config['metadata']['name']}) does not match "
                                       f"the name on the URL ({name})")
        config["metadata"]["name"] = name
        if rtype.status and subresource != "status":
            config.pop("status", None)
        entry = self.store.get(rtype.key, namespace if rtype.namespaced else "", name)
        if entry is None:
            if subresource:
                raise ApiError.not_found(rtype.plural, rtype.group, name)
            owners = {field_manager: sorted(list(p) for p in apply_fields(config))}
            return self.create(rtype, version, namespace, config, dry_run=dry_run, owners=owners), True
        stale = config["metadata"].get("resourceVersion")
        if stale and stale != entry.obj["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rtype.plural, rtype.group, name)
        if subresource == "status":
            merged = merge_patch(entry.obj, {"status": config.get("status") or {}})
            return self._commit(rtype, version, entry, merged, dry_run=dry_run, subresource="status"), False
        result = server_side_apply(entry.obj, config, entry.owners, field_manager, force=force)
        return self._commit(rtype, version, entry, result.obj, dry_run=dry_run, subresource="",
                            owners=result.owners), False

    # ---- delete ----------------------------------------------------------------------------------------
    @_locked
    def delete(self, rtype: ResourceType, version: str, namespace: str, name: str, *, dry_run: bool = False,
               propagation: str = "Background") -> dict[str, Any]:
        entry = self._entry(rtype, namespace, name)
        if rtype.key == _NAMESPACE_KEY and name in PROTECTED_NAMESPACES:
            raise ApiError("Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           name, "", "namespaces")
        obj = entry.obj
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta.update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
                if rtype.key == _NAMESPACE_KEY:
                    obj.setdefault("status", {})["phase"] = "Terminating"
                if not dry_run:
                    obj = self.store.put(rtype.key, obj)
            return self.served(rtype, version, obj)
        if not dry_run:
            obj = self._remove(rtype, obj, propagation=propagation)
        if rtype.crd or rtype.key == _NAMESPACE_KEY:
            return self.served(rtype, version, obj)
        return success_status(name, rtype.group, rtype.plural, meta.get("uid", ""))

    def _remove(self, rtype: ResourceType, obj: dict[str, Any], *, propagation: str = "Background") -> dict[str, Any]:
        meta = obj["metadata"]
        removed = self.store.remove(rtype.key, meta.get("namespace", ""), meta["name"]) or obj
        if rtype.key == _NAMESPACE_KEY:
            self._empty_namespace(meta["name"])
        elif rtype.key == _CRD_KEY:
            gone = crd_to_type(obj)
            self.registry.remove_crd(gone.key)
            self.store.drop_type(gone.key)
        if propagation != "Orphan":
            self._collect_dependents(meta.get("uid", ""))
        return removed

    def _empty_namespace(self, namespace: str) -> None:
        for rtype in self.registry.all():
            if rtype.namespaced:
                items = self.store.list(rtype.key, namespace, copy=False)[0]
                for item in items:
                    self.store.remove(rtype.key, namespace, item["metadata"]["name"])

    def _collect_dependents(self, uid: str) -> None:
        """Garbage collection: delete objects whose ownerReferences name ``uid`` (finalizers apply)."""
        if not uid:
            return
        types = {rtype.key: rtype for rtype in self.registry.all()}
        for key, namespace, name in self.store.dependents(uid):
            rtype = types.get(key)
            if rtype is None:
                continue
            try:
                self.delete(rtype, rtype.versions[0], namespace, name)
            except ApiError:
                pass  # already gone

    @_locked
    def delete_collection(self, rtype: ResourceType, version: str, namespace: str | None, labels: Selector,
                          fields: Selector, *, dry_run: bool = False) -> dict[str, Any]:
        listed = self.list(rtype, version, namespace, labels, fields)
        for item in listed["items"]:
            meta = item["metadata"]
            self.delete(rtype, version, meta.get("namespace", ""), meta["name"], dry_run=dry_run)
        return listed


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError as e:
        raise ApiError.bad_request(f"the request body is not valid JSON: {e}") from e


def _parse_yaml(raw: bytes) -> dict[str, Any]:
    try:
        data = yaml.safe_load(raw or b"")
    except yaml.YAMLError as e:
        raise ApiError.bad_request(f"the apply patch is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ApiError.bad_request("the apply patch must be an object")
    return data
