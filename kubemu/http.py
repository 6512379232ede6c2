"""The HTTP face of the emulator: routing, authentication, discovery, watches (aiohttp)."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import yaml
from aiohttp import web

from .api import Api
from .errors import ApiError, Cause
from .resources import ResourceType
from .selectors import Selector, parse_field_selector, parse_label_selector
from .store import Event

__all__ = ["Frontend", "Route", "parse_route", "KUBE_VERSION"]

log = logging.getLogger("kubemu")
KUBE_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0", "gitCommit": "kubemu",
                "gitTreeState": "clean", "buildDate": "2024-08-13T00:00:00Z", "goVersion": "go1.22.5",
                "compiler": "gc", "platform": "linux/amd64"}
UNAUTHENTICATED_PATHS = ("/healthz", "/livez", "/readyz")
DEFAULT_WATCH_TIMEOUT = 1800.0
_STOP = object()


@dataclass(frozen=True)
class Route:
    """A parsed resource URL."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str = ""
    subresource: str = ""
    watch_path: bool = False


def parse_route(path: str) -> Route | None:
    """``/api/v1/...`` or ``/apis/<group>/<version>/...`` -> Route; None when not a resource URL."""
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 3 and segs[0] == "api":
        group, version, rest = "", segs[1], segs[2:]
    elif len(segs) >= 4 and segs[0] == "apis":
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        return None
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return Route(group, version, rest[0], namespace, rest[1] if len(rest) > 1 else "",
                 rest[2] if len(rest) > 2 else "", watch_path)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


class Frontend:
    """Builds the aiohttp application of one server."""

    def __init__(self, api: Api, *, admin_token: str, address: Callable[[], str]) -> None:
        self.api = api
        self.admin_token = admin_token
        self.address = address
        self.requests: Counter[tuple[str, str]] = Counter()
        self.bookmark_interval = 1.0
        self._watch_queues: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = set()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._authenticate], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    def drop_watches(self) -> None:
        """End every open watch stream (clients see the stream close, as on an API server restart)."""
        for loop, queue in list(self._watch_queues):
            loop.call_soon_threadsafe(queue.put_nowait, _STOP)

    # ---- middlewares -----------------------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as e:
            return web.json_response(e.status(), status=e.code)
        except web.HTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - the API answers 500 with a Status, never a traceback page
            log.exception("internal error on %s %s", request.method, request.path)
            err = ApiError("InternalError", f"Internal error occurred: {e}")
            return web.json_response(err.status(), status=500)

    @web.middleware
    async def _authenticate(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path in UNAUTHENTICATED_PATHS or self._authenticated(request):
            return await handler(request)
        raise ApiError("Unauthorized", "Unauthorized")

    def _authenticated(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):].strip()
            return token == self.admin_token or self.api.token_valid(token)
        transport = request.transport
        # The TLS layer already verified any presented certificate against the server's CA.
        return bool(transport and transport.get_extra_info("peercert"))

    # ---- routing ---------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"].strip("/")
        if path in UNAUTHENTICATED_PATHS:
            return web.Response(text="ok")
        discovery = self._discovery(path)
        if discovery is not None:
            self.requests[(request.method, path)] += 1
            if request.method != "GET":
                raise ApiError("MethodNotAllowed", "the server does not allow this method on the requested resource")
            return web.json_response(discovery)
        route = parse_route(path)
        rtype = self._resource_type(route)
        assert route is not None
        self.requests[(request.method, rtype.plural)] += 1
        return await self._resource(request, route, rtype)

    def _discovery(self, path: str) -> dict[str, Any] | None:
        registry = self.api.registry
        segs = [s for s in path.split("/") if s]
        if path == "/version":
            return dict(KUBE_VERSION)
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.address()}]}
        if path == "/api/v1":
            return registry.api_resource_list("", "v1")
        if path == "/apis":
            return registry.api_group_list()
        if len(segs) == 2 and segs[0] == "apis":
            return _or_404(registry.api_group(segs[1]))
        if len(segs) == 3 and segs[0] == "apis":
            return _or_404(registry.api_resource_list(segs[1], segs[2]))
        return None

    def _resource_type(self, route: Route | None) -> ResourceType:
        not_found = ApiError("NotFound", "the server could not find the requested resource")
        if route is None:
            raise not_found
        rtype = self.api.registry.lookup(route.group, route.version, route.plural)
        if rtype is None:
            raise not_found
        if route.namespace is not None and not rtype.namespaced:
            raise not_found
        if route.name and rtype.namespaced and route.namespace is None:
            raise not_found
        if route.subresource and not (route.subresource == "status" and rtype.status):
            raise not_found
        return rtype

    async def _resource(self, request: web.Request, route: Route, rtype: ResourceType) -> web.StreamResponse:
        q = request.query
        api, ns, name, version = self.api, route.namespace or "", route.name, route.version
        dry_run = _dry_run(q.getall("dryRun", []))
        method = request.method
        if method == "GET" and name:
            return web.json_response(api.get(rtype, version, ns, name))
        if method == "GET":
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"), rtype.kind)
            if route.watch_path or _truthy(q.get("watch")):
                return await self._watch(request, route, rtype, labels, fields)
            return web.json_response(api.list(rtype, version, route.namespace, labels, fields))
        if method == "POST" and not name:
            body = await _body(request)
            return web.json_response(api.create(rtype, version, ns, body, dry_run=dry_run), status=201)
        if method == "PUT" and name:
            body = await _body(request)
            return web.json_response(api.update(rtype, version, ns, name, body, dry_run=dry_run,
                                                subresource=route.subresource))
        if method == "PATCH" and name:
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            result, created = api.patch(rtype, version, ns, name, content_type, await request.read(),
                                        dry_run=dry_run, subresource=route.subresource,
                                        field_manager=q.get("fieldManager", ""), force=_truthy(q.get("force")))
            return web.json_response(result, status=201 if created else 200)
        if method == "DELETE" and name:
            options = await _delete_options(request)
            propagation = q.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            dry_run = dry_run or _dry_run(options.get("dryRun") or [])
            return web.json_response(api.delete(rtype, version, ns, name, dry_run=dry_run, propagation=propagation))
        if method == "DELETE":
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"), rtype.kind)
            return web.json_response(api.delete_collection(rtype, version, route.namespace, labels, fields,
                                                           dry_run=dry_run))
        raise ApiError("MethodNotAllowed", "the server does not allow this method on the requested resource")

    # ---- watch -----------------------------------------------------------------------------------------
    async def _watch(self, request: web.Request, route: Route, rtype: ResourceType, labels: Selector,
                     fields: Selector) -> web.StreamResponse:
        q = request.query
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        rv_param = q.get("resourceVersion", "")
        since = int(rv_param) if rv_param.isdigit() and rv_param != "0" else None
        store = self.api.store
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        gone: ApiError | None = None
        with store.lock:  # the initial state and the subscription must see the same history
            try:
                sub_id, replay = store.subscribe(rtype.key, since,
                                                 lambda ev: loop.call_soon_threadsafe(queue.put_nowait, ev))
            except ApiError as e:
                gone = e
            else:
                if since is None:  # no resourceVersion (or "0"): the current state first, as ADDED events
                    items = store.list(rtype.key, route.namespace if rtype.namespaced else None, copy=False)[0]
                    replay = [Event(0, "ADDED", rtype.key, o) for o in items]
        if gone is not None:  # a watch from a compacted resourceVersion: one ERROR event, then the end
            await response.prepare(request)
            await response.write(_line({"type": "ERROR", "object": gone.status()}))
            return response
        handle = (loop, queue)
        self._watch_queues.add(handle)
        try:
            await response.prepare(request)
            view = _WatchView(self.api, rtype, route, labels, fields)
            for event in replay:
                await _send(response, view.translate(event))
            await self._stream(response, queue, view, float(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT),
                               _truthy(q.get("allowWatchBookmarks")))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            store.unsubscribe(sub_id)
            self._watch_queues.discard(handle)
        return response

    async def _stream(self, response: web.StreamResponse, queue: asyncio.Queue[Any], view: "_WatchView",
                      timeout: float, bookmarks: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if bookmarks:
            await _send(response, view.bookmark())
        while (remaining := deadline - loop.time()) > 0:
            wait = min(remaining, self.bookmark_interval) if bookmarks else remaining
            try:
                item = await asyncio.wait_for(queue.get(), wait)
            except asyncio.TimeoutError:
                if bookmarks and deadline - loop.time() > 0:
                    await _send(response, view.bookmark())
                continue
            if item is _STOP:
                return
            await _send(response, view.translate(item))


class _WatchView:
    """What one watcher sees: its namespace, selectors and requested version."""

    def __init__(self, api: Api, rtype: ResourceType, route: Route, labels: Selector, fields: Selector) -> None:
        self.api, self.rtype, self.route, self.labels, self.fields = api, rtype, route, labels, fields

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        ns = (obj.get("metadata") or {}).get("namespace", "")
        in_ns = not self.rtype.namespaced or self.route.namespace is None or ns == self.route.namespace
        return in_ns and self.labels.matches(obj) and self.fields.matches(obj)

    def translate(self, event: Event) -> dict[str, Any] | None:
        """The event as this watcher sees it; objects entering or leaving the selection are ADDED/DELETED."""
        now_in = self._matches(event.obj)
        was_in = self._matches(event.prev) if event.type == "MODIFIED" else now_in
        kind = {(True, True): event.type, (True, False): "ADDED", (False, True): "DELETED"}.get((now_in, was_in))
        if kind is None:
            return None
        return {"type": kind, "object": self.api.served(self.rtype, self.route.version, event.obj)}

    def bookmark(self) -> dict[str, Any]:
        return {"type": "BOOKMARK", "object": {
            "kind": self.rtype.kind, "apiVersion": self.rtype.api_version(self.route.version),
            "metadata": {"resourceVersion": str(self.api.store.resource_version)}}}


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


async def _send(response: web.StreamResponse, data: dict[str, Any] | None) -> None:
    if data is not None:
        await response.write(_line(data))


def _or_404(doc: dict[str, Any] | None) -> dict[str, Any]:
    if doc is None:
        raise ApiError("NotFound", "the server could not find the requested resource")
    return doc


def _dry_run(values: list[str] | str) -> bool:
    values = [values] if isinstance(values, str) else list(values)
    for value in values:
        if value != "All":  # as kube-apiserver: 422, field dryRun (apimachinery ValidateDryRun)
            raise ApiError.invalid("CreateOptions", "meta.k8s.io", "", [Cause(
                "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: "All"', "dryRun")])
    return bool(values)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        if "yaml" in request.headers.get("Content-Type", ""):
            return yaml.safe_load(raw)
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as e:
        raise ApiError.bad_request(f"the request body could not be decoded: {e}") from e


async def _delete_options(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await _body(request)
    return body if isinstance(body, dict) else {}
