"""Helm chart values the roles write, against the charts at the versions the roles pin.

The table tests/unit/roles/chart_values_contracts.yml lists, per chart, the value paths read in the chart at its
tag (repo @ tag : path in each entry). The roles' values are rendered exactly as a run renders them (the hub roles
through ansible-playbook after their preflight, tests/unit/roles/hub_render.py, over the good cases of
test_render_hub_roles.py; capi_workloads through tests/unit/roles/capi_render.yml), flattened, and every value must
land on a listed path: a misspelt key, or one the chart does not have, fails naming it. A role pinning another
chart version than the table fails until the chart is read again at the new tag. When the upstream repositories
are at hand (bare clones named <owner>+<name>[/repo] under MCG_UPSTREAM_GIT, default ../.mirror), the table
itself is checked against the files at the tags.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.unit.roles.hub_render import Rendered, render_cases
from tests.unit.roles.test_kyverno_policy import render as render_kyverno
from tests.unit.roles.test_render_capi_workloads import _expand  # CAAPH's expansion (engines/caaph-values)
# the shared rendering fixture, used by name as a test argument
# pylint: disable-next=unused-import
from tests.unit.roles.test_render_capi_workloads import capi_outputs  # noqa: F401
from tests.unit.roles.test_render_hub_roles import GOOD

TABLE = yaml.safe_load((Path(__file__).with_name("chart_values_contracts.yml")).read_text())["charts"]
ENTRIES = {entry["id"]: entry for entry in TABLE}
TEMPLATE_ENTRIES = [e["id"] for e in TABLE if "template" in e["values_from"]]
PROXY_ENTRIES = [e["id"] for e in TABLE if "helm_chart_proxy" in e["values_from"]]
UPSTREAM_GIT = Path(os.environ.get("MCG_UPSTREAM_GIT", ROOT.parent / ".mirror"))
_SEGMENT = re.compile(r'"([^"]+)"|([^."]+)')


# --- paths --------------------------------------------------------------------------------------------------------
def parse_path(text: str) -> tuple[str, ...]:
    """`configs.params."server.insecure"` -> ('configs', 'params', 'server.insecure')."""
    segments, pos = [], 0
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        assert match, f"bad path {text!r} at {pos}"
        segments.append(match.group(1) or match.group(2))
        pos = match.end()
        if pos < len(text):
            assert text[pos] == ".", f"bad path {text!r} at {pos}"
            pos += 1
    return tuple(segments)


def format_path(path: tuple[str, ...]) -> str:
    return ".".join(f'"{s}"' if "." in s or "/" in s else s for s in path)


def _listed(entry: dict[str, Any]) -> dict[tuple[str, ...], str]:
    texts = entry.get("values", []) + entry.get("free_form", []) + [p["path"] for p in entry.get("passthrough", [])]
    return {parse_path(t): t for t in texts}


def walk(values: dict[str, Any], entry: dict[str, Any]) -> tuple[set[tuple[str, ...]], list[str]]:
    """The listed paths the values reach, and every leaf that reaches none (a listed path is a leaf)."""
    listed = _listed(entry)
    reached: set[tuple[str, ...]] = set()
    unknown: list[str] = []

    def visit(node: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            path = prefix + (str(key),)
            if path in listed:
                reached.add(path)
            elif isinstance(value, dict) and value:
                visit(value, path)
            else:
                unknown.append(format_path(path))

    visit(values, ())
    return reached, unknown


def test_walk_names_a_misspelt_key_and_stops_at_free_form_maps() -> None:
    entry = {"values": ["controller.service.type"], "free_form": ["controller.service.annotations"],
             "passthrough": [{"path": 'configs.params."server.insecure"'}]}
    reached, unknown = walk({"controller": {"service": {"type": "LoadBalancer", "anotations": {"a": "b"},
                                                        "annotations": {"x.y/z": {"deep": 1}}}},
                             "configs": {"params": {"server.insecure": True, "server.insecur": True}}}, entry)
    assert unknown == ["controller.service.anotations.a", 'configs.params."server.insecur"']
    assert {format_path(p) for p in reached} == {"controller.service.type", "controller.service.annotations",
                                                 'configs.params."server.insecure"'}


# --- rendering ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hub_rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    cases = [c for c in GOOD if c.role in {"argocd", "ingress_tls"}]
    rendered = render_cases(tmp_path_factory.mktemp("chart-values"), cases)
    failed = {cid: r.message for cid, r in rendered.items() if not r.ok}
    assert failed == {}, failed
    return rendered


def _template_values(entry: dict[str, Any], hub_rendered: dict[str, Rendered]) -> dict[str, dict[str, Any]]:
    """{case id: the values document} for every good case of the role that renders the entry's template."""
    template = Path(entry["values_from"]["template"])
    role = template.parts[1]
    out = {}
    for case in GOOD:
        if case.role == role:
            (values,) = hub_rendered[case.id].docs[template.name]
            out[case.id] = values
    assert out, f"no good case renders {template}"
    return out


def _proxies(entry: dict[str, Any], capi_outputs: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: F811
    name = entry["values_from"]["helm_chart_proxy"]
    found = [o for o in capi_outputs["a"]["addons"] if o["kind"] == "HelmChartProxy" and o["metadata"]["name"] == name]
    assert found, f"variant a renders no HelmChartProxy {name}"
    return found


# A cluster whose every optional branch of the templates is taken: a pod CIDR, a service-lb NSG with its OCID.
_CLUSTER = {"spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}}}
_INFRA = {"spec": {"networkSpec": {"vcn": {"networkSecurityGroup": {"list": [
    {"name": "service-lb", "role": "service-lb", "id": "ocid1.networksecuritygroup.oc1..lb"}]}}}}}


def _proxy_values(proxy: dict[str, Any]) -> dict[str, Any]:
    """The values CAAPH installs: valuesTemplate expanded as CAAPH expands it (Go text/template with sprig)."""
    return _expand(proxy, _INFRA, _CLUSTER)


# --- versions -----------------------------------------------------------------------------------------------------
def _default(role: str, variable: str) -> Any:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())[variable]


@pytest.mark.parametrize("cid", list(ENTRIES))
def test_the_role_pins_the_version_whose_values_were_read(cid: str) -> None:
    """A chart bump fails here until the chart is read again at the new tag and the table updated.

    Upstream: each entry's repo @ tag : path in tests/unit/roles/chart_values_contracts.yml.
    """
    entry = ENTRIES[cid]
    pinned = str(_default(entry["pinned_by"]["role"], entry["pinned_by"]["variable"]))
    assert pinned == entry["version"], (
        f"{entry['pinned_by']['variable']} is {pinned} but the {entry['chart']} values were read at "
        f"{entry['repo']} @ {entry['tag']}: read {entry['path']} at the new tag and update chart_values_contracts.yml")


@pytest.mark.parametrize("cid", PROXY_ENTRIES)
def test_every_helm_chart_proxy_installs_the_version_read(cid: str, capi_outputs: dict[str, Any]) -> None:  # noqa: F811
    """Upstream: kubernetes/ingress-nginx @ helm-chart-4.12.1 : charts/ingress-nginx/values.yaml;
    projectcalico/calico @ v3.29.3 : charts/tigera-operator/values.yaml."""
    entry = ENTRIES[cid]
    assert {p["spec"]["version"] for p in _proxies(entry, capi_outputs)} == {entry["version"]}
    assert {p["spec"]["chartName"] for p in _proxies(entry, capi_outputs)} == {entry["chart"]}


def _helm_tasks() -> list[tuple[str, dict[str, Any]]]:
    tasks = []
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            for item in [task, *task.get("block", []), *task.get("rescue", [])]:
                if "kubernetes.core.helm" in item:
                    tasks.append((str(path.relative_to(ROOT)), item["kubernetes.core.helm"]))
    return tasks


def test_every_chart_a_role_installs_is_in_the_table() -> None:
    """Each kubernetes.core.helm task pins its version with a table entry's variable and passes that entry's values
    (the cluster-api-operator chart: none at all).

    Upstream: kubernetes-sigs/cluster-api-operator @ v0.28.0 : hack/charts/cluster-api-operator/values.yaml (core,
    bootstrap, controlPlane, infrastructure, addon, ipam default to {}: with no values the chart creates no provider).
    """
    by_variable = {e["pinned_by"]["variable"]: e for e in TABLE if "helm_chart_proxy" not in e["values_from"]}
    tasks = [(path, t) for path, t in _helm_tasks() if t.get("state", "present") != "absent"]
    assert tasks
    seen = set()
    for path, task in tasks:
        variable = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", str(task.get("chart_version", "")))
        assert variable and variable.group(1) in by_variable, f"{path}: chart {task.get('chart_ref')} has no entry"
        entry = by_variable[variable.group(1)]
        seen.add(entry["id"])
        source = entry["values_from"]
        assert not {"values_files", "set_values"} & set(task), f"{path}: values outside the table's source"
        if "template" in source:
            assert Path(source["template"]).name in task["values"], (path, task["values"])
        elif "variable" in source:
            assert re.fullmatch(r"\{\{\s*%s\s*\}\}" % source["variable"], task["values"]), (path, task["values"])
        else:
            assert "values" not in task, f"{path}: {entry['chart']} gets values the table does not list"
    assert seen == {e["id"] for e in by_variable.values()}


# --- values -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", TEMPLATE_ENTRIES)
def test_rendered_values_are_keys_of_the_pinned_chart(cid: str, hub_rendered: dict[str, Rendered]) -> None:
    """Every value the role renders (every good case) is a key of the chart at the pinned tag, and every listed key
    is written by some case.

    Upstream: argoproj/argo-helm @ argo-cd-9.2.2 : charts/argo-cd/values.yaml (and templates/_helpers.tpl,
    argocd-server/deployment.yaml, argocd-applicationset/deployment.yaml for the configs.params keys);
    kubernetes/ingress-nginx @ helm-chart-4.13.3 : charts/ingress-nginx/values.yaml;
    cert-manager/cert-manager @ v1.19.1 : deploy/charts/cert-manager/values.yaml.
    """
    entry = ENTRIES[cid]
    reached: set[tuple[str, ...]] = set()
    for case, values in _template_values(entry, hub_rendered).items():
        hit, unknown = walk(values, entry)
        assert unknown == [], (
            f"{entry['values_from']['template']} ({case}) writes {unknown}, not keys of {entry['chart']} "
            f"{entry['version']} ({entry['repo']} @ {entry['tag']} : {entry['path']})")
        reached |= hit
    assert sorted(format_path(p) for p in set(_listed(entry)) - reached) == [], "listed but never written"


@pytest.mark.parametrize("cid", PROXY_ENTRIES)
def test_helm_chart_proxy_values_are_keys_of_the_pinned_chart(
        cid: str, capi_outputs: dict[str, Any]) -> None:  # noqa: F811
    """Upstream: kubernetes/ingress-nginx @ helm-chart-4.12.1 : charts/ingress-nginx/values.yaml,
    templates/controller-service.yaml; projectcalico/calico @ v3.29.3 : charts/tigera-operator/values.yaml,
    templates/crs/custom-resources.yaml, crds/operator.tigera.io_installations_crd.yaml."""
    entry = ENTRIES[cid]
    reached: set[tuple[str, ...]] = set()
    for proxy in _proxies(entry, capi_outputs):
        hit, unknown = walk(_proxy_values(proxy), entry)
        assert unknown == [], (f"HelmChartProxy {proxy['metadata']['namespace']}/{proxy['metadata']['name']} writes "
                               f"{unknown}, not keys of {entry['chart']} {entry['version']}")
        reached |= hit
    assert sorted(format_path(p) for p in set(_listed(entry)) - reached) == [], "listed but never written"


def test_ingress_nginx_nlb_annotations_reach_the_controller_service(hub_rendered: dict[str, Rendered]) -> None:
    """The NLB annotations are written under controller.service.annotations, the map the chart puts on the controller
    Service (not controller.service.external/internal, nor controller.annotations, the Deployment's).

    Upstream: kubernetes/ingress-nginx @ helm-chart-4.13.3 : charts/ingress-nginx/templates/controller-service.yaml.
    """
    for case, values in _template_values(ENTRIES["ingress-nginx-hub"], hub_rendered).items():
        annotations = values["controller"]["service"]["annotations"]
        assert annotations["oci.oraclecloud.com/load-balancer-type"] == "nlb", case


# --- Kyverno: keys the role reads ---------------------------------------------------------------------------------
def _kyverno_subjects(values: dict[str, Any]) -> dict[str, str]:
    docs = render_kyverno("registration-rbac.yaml.j2", kyverno_policies_chart_values=values)
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    return {("admission" if b["metadata"]["name"].endswith(":admission") else "background"): b["subjects"][0]["name"]
            for b in bindings}


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


def test_kyverno_keys_the_role_reads_name_the_service_accounts() -> None:
    """Each key the role reads from kyverno_policies_chart_values changes the ServiceAccount it binds, as the chart
    names it.

    Upstream: kyverno/kyverno @ kyverno-chart-3.8.2 : charts/kyverno/values.yaml, templates/_helpers/_names.tpl,
    templates/background-controller/_helpers.tpl, templates/admission-controller/_helpers.tpl.
    """
    reads = [path for path, _value in _reads(ENTRIES["kyverno"])]
    assert _kyverno_subjects({}) == {"background": "kyverno-background-controller",
                                     "admission": "kyverno-admission-controller"}
    expected = {
        ("nameOverride",): {"background": "kv-background-controller", "admission": "kv-admission-controller"},
        ("backgroundController", "rbac", "serviceAccount", "name"): {"background": "kv",
                                                                     "admission": "kyverno-admission-controller"},
        ("admissionController", "rbac", "serviceAccount", "name"): {"background": "kyverno-background-controller",
                                                                    "admission": "kv"},
    }
    assert set(reads) == set(expected)
    for path in reads:
        assert _kyverno_subjects(_nested(path, "kv")) == expected[path], format_path(path)


def _reads(entry: dict[str, Any]) -> list[tuple[tuple[str, ...], str | None]]:
    return [(parse_path(r), None) if isinstance(r, str) else (parse_path(r["path"]), r["read_by"])
            for r in entry.get("reads", [])]


def _keys_read(role: str, source: str) -> set[str]:
    """The keys the role's internal variables read from `source` or from a variable derived from it."""
    variables = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text())
    derived, grown = {source}, True
    while grown:
        grown = False
        for name, value in variables.items():
            if name not in derived and isinstance(value, str) and any(d in value for d in derived):
                derived.add(name)
                grown = True
    keys: set[str] = set()
    for name in derived - {source}:
        value = variables[name]
        keys |= set(re.findall(r"\['(\w+)'\]", value)) | set(re.findall(r"'(\w+)' in ", value))
        keys |= set(re.findall(r"\.([A-Za-z_]\w*)", re.sub(r"'[^']*'", "", value)))
    return keys


@pytest.mark.parametrize("cid", [e["id"] for e in TABLE if "reads_from" in e])
def test_the_role_reads_no_other_key(cid: str) -> None:
    """Every key the role's variables read from the user's chart values is a key of a listed `reads` path.

    Upstream: argoproj/argo-helm @ argo-cd-9.2.2 : charts/argo-cd/values.yaml; kubernetes/ingress-nginx @
    helm-chart-4.13.3 : charts/ingress-nginx/templates/_helpers.tpl, values.yaml; kyverno/kyverno @
    kyverno-chart-3.8.2 : charts/kyverno/values.yaml.
    """
    entry = ENTRIES[cid]
    segments = {s for path, _value in _reads(entry) for s in path}
    read = _keys_read(entry["pinned_by"]["role"], entry["reads_from"])
    assert read and read <= segments, sorted(read - segments)


def _role_var(role: str, name: str, **overrides: Any) -> Any:
    """A variable of the role as Ansible templates it (defaults and vars of the role, overrides on top)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    variables: dict[str, Any] = {}
    for file in ("defaults/main.yml", "vars/main.yml"):
        for key, value in (yaml.safe_load((ROOT / "roles" / role / file).read_text()) or {}).items():
            variables[key] = trust_as_template(value) if isinstance(value, str) else value
    variables.update(overrides)
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template("{{ %s }}" % name))


@pytest.mark.parametrize(("release", "extra", "service", "port"), [
    ("argocd", {}, "argocd-server", "http"),
    ("platform-argocd", {}, "platform-argocd-server", "http"),
    ("gitops", {}, "gitops-argocd-server", "http"),
    ("argo-cd-hub", {"nameOverride": ""}, "argo-cd-hub-server", "http"),
    ("gitops", {"nameOverride": "cd"}, "gitops-cd-server", "http"),
    ("gitops", {"fullnameOverride": "hub-"}, "hub-server", "http"),
    ("argocd", {"server": {"name": "api", "service": {"servicePortHttpName": "web"}}}, "argocd-api", "web"),
    ("r" * 60, {}, "r" * 60 + "-ar", "http"),
], ids=["default", "release-holds-the-name", "other-release", "empty-name-override", "name-override",
        "fullname-override", "server-name-and-port", "63-characters"])
def test_argocd_names_the_server_as_the_chart_does(release: str, extra: dict[str, Any], service: str,
                                                   port: str) -> None:
    """The Ingress and the wait reach the server by the chart's names, whatever the release name and extra values.

    Upstream: argoproj/argo-helm @ argo-cd-9.2.2 : charts/argo-cd/templates/_common.tpl (argo-cd.fullname),
    charts/argo-cd/templates/_helpers.tpl (argo-cd.server.fullname),
    charts/argo-cd/templates/argocd-server/service.yaml.
    """
    overrides = {"argocd_release_name": release, "argocd_extra_values": extra}
    assert _role_var("argocd", "_argocd_server_service", **overrides) == service
    assert _role_var("argocd", "_argocd_server_deployment", **overrides) == service
    assert _role_var("argocd", "_argocd_server_http_port_name", **overrides) == port


def test_argocd_ingress_targets_the_charts_server_service(hub_rendered: dict[str, Rendered]) -> None:
    """Upstream: argoproj/argo-helm @ argo-cd-9.2.2 : charts/argo-cd/templates/argocd-server/service.yaml."""
    for case in [c for c in GOOD if c.role == "argocd"]:
        ingress = [d for d in hub_rendered[case.id].docs["server-ingress.yaml.j2"] if d["kind"] == "Ingress"][0]
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "argocd-server", "port": {"name": "http"}}, case.id


@pytest.mark.parametrize(("release", "extra", "service"), [
    ("ingress-nginx", {}, "ingress-nginx-controller"),
    ("hub-ingress-nginx", {}, "hub-ingress-nginx-controller"),
    ("nginx", {}, "nginx-ingress-nginx-controller"),
    ("nginx", {"nameOverride": "nginx"}, "nginx-controller"),
    ("nginx", {"fullnameOverride": "edge"}, "edge-controller"),
    ("ingress-nginx", {"controller": {"name": "ctl"}}, "ingress-nginx-ctl"),
], ids=["default", "release-holds-the-name", "other-release", "name-override", "fullname-override",
        "controller-name"])
def test_ingress_tls_waits_on_the_charts_controller_service(release: str, extra: dict[str, Any],
                                                            service: str) -> None:
    """Upstream: kubernetes/ingress-nginx @ helm-chart-4.13.3 : charts/ingress-nginx/templates/_helpers.tpl
    (ingress-nginx.fullname, ingress-nginx.controller.fullname), templates/controller-service.yaml."""
    assert _role_var("ingress_tls", "_ingress_tls_controller_service", ingress_tls_ingress_nginx_release=release,
                     ingress_tls_ingress_nginx_extra_values=extra) == service


# --- the table against the upstream files -------------------------------------------------------------------------
def _git_dir(repo: str) -> Path | None:
    owner, name = repo.split("/")
    for candidate in (UPSTREAM_GIT / f"{owner}+{name}" / "repo", UPSTREAM_GIT / f"{owner}+{name}",
                      UPSTREAM_GIT / owner / name):
        if candidate.is_dir():
            return candidate
    return None


def _upstream(repo: str, tag: str, path: str) -> str:
    git_dir = _git_dir(repo)
    if git_dir is None:
        pytest.skip(f"{repo} is not under {UPSTREAM_GIT} (set MCG_UPSTREAM_GIT)")
    proc = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{tag}:{path}"], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        pytest.skip(f"{repo} @ {tag} : {path} not readable: {proc.stderr.strip()}")
    return proc.stdout


def _has(tree: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def _crd_has(crd: dict[str, Any], path: tuple[str, ...]) -> bool:
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for key in path:
        schema = schema.get("items", schema)
        if key not in schema.get("properties", {}):
            return False
        schema = schema["properties"][key]
    return True


@pytest.mark.parametrize("cid", list(ENTRIES))
def test_the_table_matches_the_chart_at_its_tag(cid: str) -> None:
    """Re-reads each entry where the upstream repositories are at hand: values, free_form and reads paths are keys of
    the values file at the tag; a passthrough key sits under a map of the values file and is read by its read_by
    file (a CRD: a property of the spec below that map; any other file: the key appears quoted, or as a
    configMapKeyRef `key:`).

    Upstream: each entry's repo @ tag : path in tests/unit/roles/chart_values_contracts.yml.
    """
    entry = ENTRIES[cid]
    values = yaml.safe_load(_upstream(entry["repo"], entry["tag"], entry["path"]))
    listed = entry.get("values", []) + entry.get("free_form", []) + [r for r in entry.get("reads", [])
                                                                     if isinstance(r, str)]
    missing = [p for p in listed if not _has(values, parse_path(p))]
    assert missing == [], f"not in {entry['repo']} @ {entry['tag']} : {entry['path']}"
    for path, read_by in _reads(entry):
        if read_by:
            assert not _has(values, path), f"{format_path(path)} is in the values file: drop its read_by"
            repo, rest = (s.strip() for s in read_by.split("@", 1))
            tag, file = (s.strip() for s in rest.split(":", 1))
            assert ".Values." + format_path(path) in _upstream(repo, tag, file), (format_path(path), read_by)
    for item in entry.get("passthrough", []):
        path = parse_path(item["path"])
        parent = max((i for i in range(1, len(path)) if _has(values, path[:i])), default=0)
        assert parent, f"no map of {entry['path']} holds {item['path']}"
        assert not _has(values, path), f"{item['path']} is in the values file: list it under values"
        repo, rest = (s.strip() for s in item["read_by"].split("@", 1))
        tag, file = (s.strip() for s in rest.split(":", 1))
        text = _upstream(repo, tag, file)
        if file.endswith("_crd.yaml"):
            assert _crd_has(yaml.safe_load(text), path[parent:]), f"{item['path']} is not in {item['read_by']}"
        else:
            read = f'"{path[-1]}"' in text or f"key: {path[-1]}\n" in text
            assert read, f"{item['path']} is not read by {item['read_by']}"
