"""The execution environment: the collection's dependency file (meta/execution-environment.yml) and
the image definition (execution-environment.yml), checked with ansible-builder's own schema,
definition loader, introspection and Containerfile generation (no image is built)."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
META = ROOT / "meta" / "execution-environment.yml"
IMAGE = ROOT / "execution-environment.yml"
BIN = Path(sys.executable).parent

builder = pytest.importorskip("ansible_builder", reason="ansible-builder is not installed (requirements-dev.txt)")
from ansible_builder.ee_schema import validate_schema  # noqa: E402
from ansible_builder.exceptions import DefinitionError  # noqa: E402
from ansible_builder.user_definition import UserDefinition  # noqa: E402


def _requirements(path: Path) -> dict[str, Requirement]:
    reqs = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            reqs[req.name.lower()] = req
    return reqs


def _pin(req: Requirement) -> Version:
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"{req} is not pinned with =="
    return Version(specs[0].version)


def test_collection_metadata_fits_the_schema_and_names_existing_files() -> None:
    raw = yaml.safe_load(META.read_text())
    validate_schema(raw)
    for entry in ("python", "system"):
        rel = raw["dependencies"][entry]
        assert not os.path.isabs(rel), "introspection only accepts paths relative to the collection root"
        assert (ROOT / rel).is_file(), rel


def test_schema_validation_is_strict() -> None:
    with pytest.raises(DefinitionError):
        validate_schema({"version": 3, "dependencies": {"pyton": "x.txt"}})


def test_python_requirements_are_pinned_inside_the_project_ranges() -> None:
    ee = _requirements(ROOT / "meta" / "ee-requirements.txt")
    project = _requirements(ROOT / "requirements.txt")
    assert {"kubernetes", "oci", "oci-cli", "pyyaml", "jmespath", "bcrypt"} <= set(ee)
    for name, req in ee.items():
        version = _pin(req)
        if name in project:
            assert version in project[name].specifier, f"{name}=={version} is outside {project[name]} of requirements.txt"


def test_oci_cli_pin_matches_the_oci_sdk_pin() -> None:
    ee = _requirements(ROOT / "meta" / "ee-requirements.txt")
    try:
        requires = importlib.metadata.requires("oci-cli") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("oci-cli is not installed here; its metadata (pip download --no-deps oci-cli) pins oci")
    if Version(importlib.metadata.version("oci-cli")) != _pin(ee["oci-cli"]):
        pytest.skip("the installed oci-cli is not the pinned one")
    deps = {Requirement(r).name.lower(): Requirement(r) for r in requires if "extra ==" not in r}
    assert _pin(ee["oci"]) in deps["oci"].specifier
    assert _pin(ee["pyyaml"]) in deps["pyyaml"].specifier
    assert _pin(ee["jmespath"]) in deps["jmespath"].specifier


def test_image_definition_loads_with_ansible_builder() -> None:
    definition = UserDefinition(str(IMAGE))
    definition.validate()
    assert definition.version == 3
    core = Requirement(definition.ansible_core_ref)
    installed = Version(importlib.metadata.version("ansible-core"))
    assert Version(_pin(core).base_version).release[:2] == installed.release[:2], \
        "the image's ansible-core differs in minor version from the one the project is tested with"
    galaxy = {c["name"]: c["version"] for c in definition.dependencies["galaxy"]["collections"]}
    project_range = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]["kubernetes.core"]
    assert Version(galaxy["kubernetes.core"]) in SpecifierSet(project_range.replace(" ", ""))


def test_containerfile_installs_the_collection_and_a_verified_helm(tmp_path: Path) -> None:
    context = tmp_path / "context"
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(IMAGE), "-c", str(context),
                           "--output-filename", "Containerfile"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (context / "Containerfile").read_text()
    final = text.split("FROM base AS final", 1)[1]
    assert re.search(r"ARG HELM_VERSION=v3\.\d+\.\d+\n", final)
    for arch in ("AMD64", "ARM64"):
        assert re.search(rf"ARG HELM_SHA256_{arch}=[0-9a-f]{{64}}\n", final), arch
    assert "sha256sum -c" in final and "install -m 0755" in final
    galaxy_stage = text.split("FROM base AS galaxy", 1)[1].split("FROM base AS builder", 1)[0]
    assert "multicluster-gitops-*.tar.gz" in galaxy_stage
    assert "introspect" in text.split("FROM base AS builder", 1)[1]


def test_introspection_collects_the_collection_requirements(tmp_path: Path) -> None:
    collections = tmp_path / "ansible_collections"
    (collections / "multicluster").mkdir(parents=True)
    (collections / "multicluster" / "gitops").symlink_to(ROOT)
    core = importlib.util.find_spec("ansible_collections.kubernetes.core")
    if core is not None and core.submodule_search_locations:
        (collections / "kubernetes").mkdir()
        (collections / "kubernetes" / "core").symlink_to(list(core.submodule_search_locations)[0])
    proc = subprocess.run([str(BIN / "ansible-builder"), "introspect", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    ours = [line for line in data["python"] if line.endswith("# from collection multicluster.gitops")]
    names = {Requirement(line.split("#")[0]).name.lower() for line in ours}
    # ansible-builder drops PyYAML (already in every image); everything else must come through.
    assert names == set(_requirements(ROOT / "meta" / "ee-requirements.txt")) - {"pyyaml"}
    system = [line for line in data["system"] if line.endswith("# from collection multicluster.gitops")]
    assert any(line.startswith("git ") for line in system) and any(line.startswith("tar ") for line in system)
