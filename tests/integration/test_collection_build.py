"""The collection tarball: built from the checkout without development content, installable offline
next to an already installed kubernetes.core, and usable (ansible-doc) from the installed copy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
# Top-level paths that must never ship.
EXCLUDED = ["tests", "molecule", "kubemu", "benchmarks", "scripts", ".cache", ".venv", ".ci", ".git",
            ".gitignore", ".ansible-lint", ".yamllint", "requirements-dev.txt", "pytest.ini", "sandbox-state"]

pytestmark = pytest.mark.integration


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """Ansible with no ansible.cfg of the checkout and its own home, so only what is passed is found."""
    cfg = tmp / "ansible.cfg"
    cfg.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_HOME": str(tmp / "home"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": str(tmp / "local"), "HOME": str(tmp / "home"), **extra})
    return env


def _run(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=tmp, env=_env(tmp, **env), capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    proc = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                          cwd=out, env=_env(out), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = out / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    assert path.is_file(), proc.stdout
    return path


def _members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return [m.name.removeprefix("./") for m in tar.getmembers()]


def test_tarball_leaves_out_development_content(tarball: Path) -> None:
    members = _members(tarball)
    tops = {m.split("/", 1)[0] for m in members}
    shipped = sorted(tops & set(EXCLUDED))
    assert not shipped, f"shipped in the tarball: {shipped}; add them to build_ignore in galaxy.yml"
    assert not [m for m in members if m.endswith((".pyc", ".tar.gz")) or "__pycache__" in m]


def test_tarball_holds_the_collection(tarball: Path) -> None:
    members = set(_members(tarball))
    for path in ["MANIFEST.json", "FILES.json", "meta/runtime.yml", "meta/execution-environment.yml",
                 "meta/ee-requirements.txt", "meta/ee-bindep.txt", "changelogs/changelog.yaml"]:
        assert path in members, path
    modules = sorted(p.name for p in (ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
    assert modules, "no module in plugins/modules"
    for name in modules:
        assert f"plugins/modules/{name}" in members, name
    roles = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/tasks/main.yml"))
    for role in roles:
        assert f"roles/{role}/tasks/main.yml" in members, role
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
    assert info["dependencies"] == GALAXY["dependencies"]


def test_installs_offline_and_documents_its_modules(tarball: Path, tmp_path: Path) -> None:
    dest = tmp_path / "collections"
    dest.mkdir()
    # --offline resolves the dependency kubernetes.core against what is installed (here: PyPI's ansible
    # package) and fails instead of reaching Galaxy when it is missing.
    proc = _run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", str(tarball), "-p", str(dest)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = dest / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file()
    assert "kubernetes.core" in proc.stdout  # found installed, not downloaded
    assert not (installed / "tests").exists()

    modules = sorted(p.stem for p in (installed / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    assert modules
    module = "argocd_cluster_secret" if "argocd_cluster_secret" in modules else modules[0]
    fqcn = f"{GALAXY['namespace']}.{GALAXY['name']}.{module}"
    doc = _run([str(BIN / "ansible-doc"), "-t", "module", "-j", fqcn], tmp_path, ANSIBLE_COLLECTIONS_PATH=str(dest))
    assert doc.returncode == 0, doc.stdout + doc.stderr
    data = json.loads(doc.stdout)[fqcn]
    assert Path(data["doc"]["filename"]).resolve().is_relative_to(installed.resolve()), data["doc"]["filename"]
    assert data["doc"]["short_description"]

    roles = _run([str(BIN / "ansible-doc"), "-t", "role", "-l", f"{GALAXY['namespace']}.{GALAXY['name']}"], tmp_path,
                 ANSIBLE_COLLECTIONS_PATH=str(dest))
    assert roles.returncode == 0, roles.stdout + roles.stderr
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        assert f"{GALAXY['namespace']}.{GALAXY['name']}.{spec.parent.parent.name}" in roles.stdout


def test_changelog_fragments_lint(tmp_path: Path) -> None:
    lint = BIN / "antsibull-changelog"
    if not lint.exists():
        pytest.skip("antsibull-changelog is not installed (requirements-dev.txt)")
    proc = subprocess.run([str(lint), "lint"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    fragments = sorted((ROOT / "changelogs" / "fragments").glob("*.yml"))
    assert fragments, "no changelog fragment"
    # The same lint rejects a malformed fragment.
    bad = tmp_path / "bad.yml"
    bad.write_text("minor_changes: not a list\nunknown_section:\n  - x\n")
    proc = subprocess.run([str(lint), "lint", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode != 0, "antsibull-changelog lint accepted a malformed fragment"
    assert "invalid section: unknown_section" in proc.stdout, proc.stdout


def test_offline_install_names_a_missing_kubernetes_core(tarball: Path, tmp_path: Path) -> None:
    dest = tmp_path / "collections"
    dest.mkdir()
    # Hide the collections of PyPI's ansible package: only the empty destination is searched.
    proc = _run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", str(tarball), "-p", str(dest)],
                tmp_path, ANSIBLE_COLLECTIONS_PATH=str(dest), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    assert proc.returncode != 0, proc.stdout
    assert "kubernetes.core" in proc.stdout + proc.stderr
