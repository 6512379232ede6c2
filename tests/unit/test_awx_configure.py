"""awx/configure.yml: every awx.awx task, templated with the default settings, must be accepted by
the argument spec of the installed awx.awx module; surveys, credential types and wrapper playbooks
must fit the roles and the collection's modules."""
from __future__ import annotations

import configparser
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2.sandbox
import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "awx"
PLAYBOOK = AWX / "configure.yml"
SECRETS = {
    "mcg_awx_oci_user": "ocid1.user.oc1..aaaa",
    "mcg_awx_oci_tenancy": "ocid1.tenancy.oc1..bbbb",
    "mcg_awx_oci_fingerprint": "12:34:56:78:90:ab:cd:ef:12:34:56:78:90:ab:cd:ef",
    "mcg_awx_oci_region": "eu-frankfurt-1",
    "mcg_awx_oci_private_key": "-----BEGIN PRIVATE KEY-----\nMIIfake\n-----END PRIVATE KEY-----\n",
    "mcg_awx_hub_kubeconfig": "apiVersion: v1\nkind: Config\n",
}
CONNECTION = {"controller_host": "https://awx.example.com", "controller_oauthtoken": "token-value"}


class _Captured(Exception):
    def __init__(self, spec: dict[str, Any], kwargs: dict[str, Any]) -> None:
        super().__init__("captured")
        self.spec, self.kwargs = spec, kwargs


def module_spec(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The real argument_spec (with the controller auth options) and the cross-field rules that an
    awx.awx module hands to ControllerAPIModule, captured by calling its main()."""
    mod = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{name}")
    base = importlib.import_module("ansible_collections.awx.awx.plugins.module_utils.controller_api")

    class Capture:
        def __init__(self, argument_spec: dict[str, Any], **kwargs: Any) -> None:
            raise _Captured({**base.ControllerModule.AUTH_ARGSPEC, **argument_spec}, kwargs)

    original = mod.ControllerAPIModule
    mod.ControllerAPIModule = Capture
    try:
        with pytest.raises(_Captured) as info:
            mod.main()
    finally:
        mod.ControllerAPIModule = original
    return info.value.spec, info.value.kwargs


def awx_group() -> set[str]:
    runtime = importlib.import_module("ansible_collections.awx.awx").__path__[0]
    data = yaml.safe_load(Path(runtime, "meta", "runtime.yml").read_text())
    return set(data["action_groups"]["controller"])


def load_play() -> dict[str, Any]:
    loader = DataLoader()
    return loader.load_from_file(str(PLAYBOOK), trusted_as_template=True)[0]


def play_vars(play: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    loader = DataLoader()
    variables: dict[str, Any] = {}
    for name in play["vars_files"]:
        variables.update(loader.load_from_file(str(AWX / name), trusted_as_template=True))
    variables.update(play["vars"])
    variables.update(overrides)  # extra vars win, as with -e
    return variables


def rendered_tasks(overrides: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(task name, module, args) for every awx.awx task that would run, loops expanded, `when` applied,
    module_defaults merged, everything templated."""
    play = load_play()
    variables = play_vars(play, overrides)
    templar = Templar(loader=DataLoader(), variables=variables)
    defaults = templar.template(play["module_defaults"]["group/awx.awx.controller"])
    group = awx_group()
    out = []
    for task in play["tasks"]:
        fqcn = next(k for k in task if "." in k and k.count(".") == 2)
        if not fqcn.startswith("awx.awx."):
            continue
        module = fqcn.rsplit(".", 1)[1]
        assert module in group, f"{module} is not in group/awx.awx.controller; module_defaults would not apply"
        items = templar.template(task["loop"]) if "loop" in task else [None]
        for item in items:
            scoped = Templar(loader=DataLoader(), variables={**variables, "item": item})
            when = task.get("when")
            if when is not None and not scoped.template(trust_as_template("{{ " + when + " }}")):
                continue
            out.append((task["name"], module, {**defaults, **scoped.template(task[fqcn])}))
    return out


SCENARIOS = {"defaults": {}, "with-credentials": SECRETS}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_task_fits_the_module_argument_spec(scenario: str) -> None:
    tasks = rendered_tasks({**CONNECTION, **SCENARIOS[scenario]})
    assert tasks, "no awx.awx task found in awx/configure.yml"
    for name, module, args in tasks:
        spec, rules = module_spec(module)
        validator = ArgumentSpecValidator(spec, **{k: v for k, v in rules.items() if k != "supports_check_mode"})
        result = validator.validate(args)
        assert not result.error_messages, f"{name} ({module}): {result.error_messages}"


def test_credentials_are_created_only_when_given_and_never_logged() -> None:
    without = {m for task_name, m, task_args in rendered_tasks(CONNECTION)}
    with_secrets = list(rendered_tasks({**CONNECTION, **SECRETS}))
    assert "credential" not in without
    creds = [a for task_name, m, a in with_secrets if m == "credential"]
    assert {c["name"] for c in creds} == {"oci-tenancy", "hub-kubeconfig"}
    assert all(c["update_secrets"] is False for c in creds), "secrets would be rewritten on every run"
    play = load_play()
    for task in play["tasks"]:
        if "awx.awx.credential" in task:
            assert task.get("no_log") is True, f"{task['name']} must be no_log"
    spec = module_spec("credential")[0]
    assert spec["controller_oauthtoken"].get("no_log") is True


def test_job_templates_surveys_and_playbooks() -> None:
    tasks = rendered_tasks({**CONNECTION, **SECRETS})
    templates = {a["name"]: a for task_name, m, a in tasks if m == "job_template"}
    assert set(templates) == {"multicluster-gitops site", "multicluster-gitops workload-clusters",
                              "multicluster-gitops destroy", "multicluster-gitops register"}
    assert templates["multicluster-gitops site"]["credentials"] == ["oci-tenancy"]
    assert templates["multicluster-gitops workload-clusters"]["credentials"] == ["oci-tenancy", "hub-kubeconfig"]
    variables = {}
    register = templates.pop("multicluster-gitops register")
    assert register["playbook"] == "playbooks/register.yml" and register["ask_variables_on_launch"] is True
    assert register["credentials"] == ["hub-kubeconfig"]
    rulebook = yaml.safe_load((ROOT / "extensions/eda/rulebooks/registration_awx.yml").read_text())
    launched = {r["action"]["run_job_template"]["name"] for rs in rulebook for r in rs["rules"]}
    assert launched == {"{{ awx_job_template | default('multicluster-gitops register') }}"}
    for jt in templates.values():
        spec = jt["survey_spec"]
        assert jt["survey_enabled"] is True and spec["name"] and spec["description"]
        for question in spec["spec"]:
            assert {"question_name", "variable", "type", "required"} <= set(question), question
            assert question["type"] in {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
            if question["type"] == "multiplechoice":
                assert question["default"] in question["choices"]
            variables[question["variable"]] = question
    assert variables["capi_workloads_clusters_yaml"]["type"] == "textarea"
    assert variables["capi_workloads_clusters_yaml"]["max"] >= 16384
    assert variables["mcg_destroy_confirm"]["choices"] == ["false", "true"]
    assert variables["mcg_destroy_confirm"]["default"] == "false"
    # The surveyed role variables must be real role variables.
    for var, role in (("argocd_hostname", "argocd"), ("ingress_tls_acme_email", "ingress_tls")):
        defaults = ROOT / "roles" / role / "defaults" / "main.yml"
        assert var in variables
        if not defaults.exists():
            pytest.skip(f"roles/{role}/defaults/main.yml is not written yet")
        assert var in (yaml.safe_load(defaults.read_text()) or {}), f"survey variable {var} is not a default of {role}"
    for jt in [*templates.values(), register]:
        playbook = ROOT / jt["playbook"]
        if jt["playbook"] == "playbooks/destroy.yml" and not playbook.exists():
            continue  # reported by test_destroy_playbook_reads_the_survey_answer
        assert playbook.is_file(), f"{jt['name']}: {jt['playbook']} is not in the project"


def test_destroy_playbook_reads_the_survey_answer() -> None:
    destroy = ROOT / "playbooks" / "destroy.yml"
    if not destroy.exists():
        pytest.skip("playbooks/destroy.yml is not written yet")
    assert "mcg_destroy_confirm" in destroy.read_text()


def _render_injectors(injectors: dict[str, Any], inputs: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Render injectors the way AWX does (sandboxed Jinja, file paths in tower.filename)."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    files, paths = {}, {}
    for label, tmpl in injectors.get("file", {}).items():
        files[label] = env.from_string(tmpl).render(**inputs)
        paths[label.split(".", 1)[1] if "." in label else ""] = f"/runner/env/{label}"

    class NS:
        pass

    tower = NS()
    if "" in paths:
        tower.filename = paths[""]
    else:
        tower.filename = NS()
        for k, v in paths.items():
            setattr(tower.filename, k, v)
    ns = {**inputs, "tower": tower}
    envs = {k: env.from_string(v).render(**ns) for k, v in injectors.get("env", {}).items()}
    extra = {k: env.from_string(v).render(**ns) for k, v in injectors.get("extra_vars", {}).items()}
    return files, envs, extra


def test_oci_injectors_match_the_collection_oci_auth() -> None:
    creds = yaml.safe_load((AWX / "vars" / "credential_types.yml").read_text().replace("!unsafe", ""))
    field_ids = [f["id"] for f in creds["_mcg_awx_oci_inputs"]["fields"]]
    assert field_ids == ["user", "tenancy", "fingerprint", "region", "private_key", "passphrase"]
    secret = {f["id"] for f in creds["_mcg_awx_oci_inputs"]["fields"] if f.get("secret")}
    assert secret == {"private_key", "passphrase"}
    inputs = {"user": "ocid1.user.oc1..u", "tenancy": "ocid1.tenancy.oc1..t", "fingerprint": "aa:bb",
              "region": "eu-frankfurt-1", "private_key": "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----\n"}
    files, envs, extra_vars = _render_injectors(creds["_mcg_awx_oci_injectors"], inputs)
    config = configparser.ConfigParser()
    config.read_string(files["template.config"])
    assert dict(config["DEFAULT"]) == {"user": inputs["user"], "fingerprint": "aa:bb",
                                       "tenancy": inputs["tenancy"], "region": "eu-frankfurt-1"}
    assert files["template.key"] == inputs["private_key"]
    assert envs["OCI_CONFIG_FILE"] == envs["OCI_CLI_CONFIG_FILE"] == "/runner/env/template.config"
    assert envs["OCI_CLI_KEY_FILE"] == "/runner/env/template.key"
    assert envs["OCI_CLI_PASSPHRASE"] == ""
    # Every OCI_CLI_* credential variable is one the collection's modules read.
    oci_client = importlib.import_module("ansible_collections.multicluster.gitops.plugins.module_utils._oci_client")
    read = {name for opt in oci_client.OCI_AUTH_ARG_SPEC.values() for name in (opt.get("fallback") or (None, []))[1]}
    for name in ("OCI_CLI_USER", "OCI_CLI_TENANCY", "OCI_CLI_FINGERPRINT", "OCI_CLI_REGION", "OCI_CLI_KEY_FILE",
                 "OCI_CLI_PASSPHRASE", "OCI_CLI_CONFIG_FILE", "OCI_CLI_PROFILE"):
        assert name in envs and name in read, name


def test_hub_injector_sets_the_collection_kubeconfig_variable() -> None:
    creds = yaml.safe_load((AWX / "vars" / "credential_types.yml").read_text().replace("!unsafe", ""))
    files, envs, extra = _render_injectors(creds["_mcg_awx_hub_injectors"], {"kubeconfig": "apiVersion: v1\n"})
    assert files == {"template": "apiVersion: v1\n"}
    assert extra == {"mcg_hub_kubeconfig": "/runner/env/template"}
    assert envs == {"K8S_AUTH_KUBECONFIG": "/runner/env/template"}
    assert "mcg_hub_kubeconfig" in (ROOT / "CONTRIBUTING.md").read_text()


def test_injector_templates_stay_unrendered_by_ansible() -> None:
    text = (AWX / "vars" / "credential_types.yml").read_text()
    for line in text.splitlines():
        if "{{" in line and not line.lstrip().startswith("#"):
            assert "!unsafe" in line or re.match(r"^\s+\w+=\{\{", line), f"templated by Ansible: {line.strip()}"


SURVEY_CASES = {
    "list": ("- name: dev-1\n  flavor: kubeadm\n- name: dev-2\n", 0, "dev-1,dev-2"),
    "empty keeps inventory": ("", 0, "inv-1"),
    "mapping is refused": ("name: dev-1\n", 2, None),
}


@pytest.mark.parametrize("case", SURVEY_CASES)
def test_survey_play_turns_the_textarea_into_the_cluster_list(tmp_path: Path, case: str) -> None:
    from tests.helpers.ansible import run_playbook

    answer, rc, names = SURVEY_CASES[case]
    playbook = f"""
- name: Survey
  ansible.builtin.import_playbook: {AWX / 'playbooks' / 'survey.yml'}
- name: Show
  hosts: hub
  gather_facts: false
  tasks:
    - name: Print the clusters
      ansible.builtin.debug:
        msg: "CLUSTERS={{{{ capi_workloads_clusters | map(attribute='name') | join(',') }}}}"
"""
    result = run_playbook(tmp_path, playbook, hostvars={"capi_workloads_clusters": [{"name": "inv-1"}]},
                          extra_vars={"capi_workloads_clusters_yaml": answer})
    assert result.rc == rc, result.stdout
    if names is None:
        assert "must be a YAML list of mappings" in result.stdout
    else:
        assert f"CLUSTERS={names}" in result.stdout


def test_configure_playbook_passes_ansible_lint() -> None:
    lint = Path(sys.executable).parent / "ansible-lint"
    # The wrappers (awx/playbooks/site.yml, workload_clusters.yml) import the platform playbooks, which the
    # project-wide lint stage covers; here only the AWX content itself.
    files = ["awx/configure.yml", "awx/playbooks/survey.yml", "awx/vars/main.yml", "awx/vars/credential_types.yml"]
    proc = subprocess.run([str(lint), "--offline", "--nocolor", *files], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
