"""Build the real engines from their Go modules under ``engines/<component>/``.

Each component is one Go module (``engines/<component>/go.mod`` + ``go.sum``) and a list of main
packages. ``build(component)`` runs one ``go build -trimpath -ldflags=-s -w -o <tmp>/ <pkgs...>``
in the module directory, moves the binaries to ``.cache/engines/bin/`` and writes the stamp
``.cache/engines/stamps/<component>.sha`` (sha256 of go.mod, go.sum, our own Go files under the
module, the package list and ``go version``). A second build with the same stamp and every binary
present does nothing and says so.

Adding a component: one entry in ``COMPONENTS`` (binary name -> Go package, relative packages are
taken inside the module).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ROOT / "engines"
CACHE = Path(os.environ.get("MCG_ENGINES_CACHE", ROOT / ".cache" / "engines"))
BIN = CACHE / "bin"
STAMPS = CACHE / "stamps"
LOGS = CACHE / "logs"


@dataclass(frozen=True)
class Component:
    """One Go module under ``engines/<name>`` and the binaries built from it."""

    name: str
    binaries: dict[str, str] = field(default_factory=dict)  # binary name -> Go package
    # Version stamping as the upstream release scripts do (`-X <pkg>.gitVersion=...`): the Go package
    # holding gitVersion/gitMajor/gitMinor and the module (in go.mod) whose version it reports.
    version_package: str = ""   # comma-separated when several packages carry the version
    version_module: str = ""

    @property
    def module_dir(self) -> Path:
        return ENGINES / self.name


COMPONENTS: dict[str, Component] = {
    # /version of an unstamped build says v0.0.0-master, which clients checking a minimum server version
    # (Cluster API's managers) refuse; kubernetes' hack/lib/version.sh stamps component-base/version.
    "kube": Component("kube", {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "etcd": "./cmd/etcd",
    }, version_package="k8s.io/component-base/version,k8s.io/client-go/pkg/version",
        version_module="k8s.io/kubernetes"),
    # Expands HelmChartProxy valuesTemplates as the Cluster API add-on provider for Helm does (text/template
    # with sprig v3.3.0, the version of its go.mod at v0.6.2): our own few lines, to test the role's templates.
    "caaph-values": Component("caaph-values", {"caaph-values": "./cmd/caaph-values"}),
    # Cluster API v1.12.5 (+ its test module for CAPD): core, kubeadm bootstrap and control plane, CAPD
    # (Docker and in-memory "dev" backends). The two kubeadm mains share a package name, hence
    # separate `go build` runs (see _batches).
    "capi": Component("capi", {
        "capi-manager": "sigs.k8s.io/cluster-api",
        "capi-kubeadm-bootstrap": "sigs.k8s.io/cluster-api/bootstrap/kubeadm",
        "capi-kubeadm-control-plane": "sigs.k8s.io/cluster-api/controlplane/kubeadm",
        "capd-manager": "sigs.k8s.io/cluster-api/test/infrastructure/docker",
    }, version_package="sigs.k8s.io/cluster-api/version", version_module="sigs.k8s.io/cluster-api"),
    "kyverno": Component("kyverno", {
        "kyverno": "github.com/kyverno/kyverno/cmd/kyverno",
        "kyverno-background-controller": "github.com/kyverno/kyverno/cmd/background-controller",
    }),
    "argocd": Component("argocd", {
        "argocd-applicationset-controller": "./cmd/argocd-applicationset-controller",
    }),
}


class BuildError(RuntimeError):
    """A component did not build; the message says why (and where the full log is)."""


def binary(name: str) -> Path:
    """Path of a built binary in ``.cache/engines/bin``."""
    return BIN / name


def go_version() -> str:
    """``go version`` output, or raise BuildError when there is no Go toolchain."""
    go = shutil.which("go")
    if not go:
        raise BuildError("no Go toolchain: put `go` on PATH (https://go.dev/doc/install)")
    return subprocess.run([go, "version"], check=True, capture_output=True, text=True).stdout.strip()


def stamp(component: Component) -> str:
    """sha256 over what decides the binaries: go.mod, go.sum, our Go files, packages, Go version."""
    digest = hashlib.sha256()
    mod = component.module_dir
    files = [mod / "go.mod", mod / "go.sum", *sorted(mod.rglob("*.go"))]
    for path in files:
        digest.update(str(path.relative_to(mod)).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    for name, pkg in sorted(component.binaries.items()):
        digest.update(f"{name}={pkg}\n".encode())
    digest.update(ldflags(component).encode())
    digest.update(go_version().encode())
    return digest.hexdigest()


def stamp_path(component: Component) -> Path:
    return STAMPS / f"{component.name}.sha"


def missing(component_name: str) -> str | None:
    """Why the component's binaries cannot be used (None when all are built and stamped)."""
    component = COMPONENTS[component_name]
    absent = [name for name in component.binaries if not binary(name).exists()]
    if absent:
        return (f"real engine binaries not built: {', '.join(absent)} "
                f"(run `python -m realengines build {component_name}`)")
    if not stamp_path(component).exists():
        return f"component {component_name} has no build stamp (run `python -m realengines build {component_name}`)"
    return None


def up_to_date(component: Component) -> bool:
    path = stamp_path(component)
    return (path.exists() and path.read_text().strip() == stamp(component)
            and all(binary(name).exists() for name in component.binaries))


def _size(nbytes: int) -> str:
    return f"{nbytes / 1024 / 1024:.1f} MiB"


def build(component_name: str, *, force: bool = False, out=sys.stdout) -> bool:
    """Build one component; return True when built, False when the stamp said it was up to date.

    Raises BuildError (with the tail of the go build log) when the build fails.
    """
    if component_name not in COMPONENTS:
        raise BuildError(f"unknown component {component_name!r}; known: {', '.join(COMPONENTS)}")
    component = COMPONENTS[component_name]
    if not (component.module_dir / "go.mod").exists():
        raise BuildError(f"{component.module_dir}/go.mod is missing")
    started = time.monotonic()
    current = stamp(component)
    if not force and up_to_date(component):
        print(f"{component_name}: up to date (stamp {current[:12]}, checked in "
              f"{time.monotonic() - started:.1f}s); binaries:", file=out)
        for name in component.binaries:
            print(f"  {binary(name)}  {_size(binary(name).stat().st_size)}", file=out)
        return False
    for directory in (BIN, STAMPS, LOGS):
        directory.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"build-{component_name}.log"
    env = dict(os.environ)
    env["GOFLAGS"] = " ".join(f for f in env.get("GOFLAGS", "").split() if not f.startswith("-mod="))
    print(f"{component_name}: building {', '.join(component.binaries)} in {component.module_dir} "
          f"({go_version()}, GOCACHE={_gocache(env)}); log: {log}", file=out, flush=True)
    log.write_text("")
    for batch in _batches(component.binaries):
        with tempfile.TemporaryDirectory(prefix=f"build-{component_name}-", dir=CACHE) as tmp:
            command = ["go", "build", "-trimpath", f"-ldflags={ldflags(component)}", "-o", tmp + os.sep,
                       *batch.values()]
            with log.open("a") as handle:
                handle.write(" ".join(command) + "\n")
                handle.flush()
                result = subprocess.run(command, cwd=component.module_dir, env=env, stdout=handle,
                                        stderr=subprocess.STDOUT, check=False)
            if result.returncode != 0:
                tail = "\n".join(log.read_text().splitlines()[-20:])
                raise BuildError(f"{component_name}: go build failed (exit {result.returncode}); "
                                 f"last lines of {log}:\n{tail}")
            for name, pkg in batch.items():
                built = Path(tmp) / _basename(pkg)
                if not built.exists():
                    raise BuildError(f"{component_name}: go build produced no binary for {pkg}")
                os.replace(built, binary(name))
    stamp_path(component).write_text(current + "\n")
    elapsed = time.monotonic() - started
    print(f"{component_name}: built in {elapsed:.0f}s ({elapsed / 60:.1f} min); binaries:", file=out)
    for name in component.binaries:
        print(f"  {binary(name)}  {_size(binary(name).stat().st_size)}", file=out)
    return True


def module_version(component: Component, module: str) -> str:
    """The version go.mod of ``component`` requires for ``module`` (a replace line to a version wins)."""
    version = ""
    for line in (component.module_dir / "go.mod").read_text().splitlines():
        words = line.split("//")[0].split()
        if words[:1] == ["require"]:
            words = words[1:]
        if len(words) >= 2 and words[0] == module and words[1].startswith("v"):
            version = version or words[1]
        if len(words) >= 4 and words[0] == module and words[1] == "=>" and words[3].startswith("v"):
            version = words[3]
    return version


def ldflags(component: Component) -> str:
    """``-s -w`` plus the version stamp of ``component`` (gitVersion, gitMajor, gitMinor)."""
    flags = ["-s", "-w"]
    version = module_version(component, component.version_module) if component.version_module else ""
    if component.version_package and version:
        major, minor = version.lstrip("v").split(".")[:2]
        for pkg in component.version_package.split(","):
            flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                      f"-X {pkg}.gitTreeState=clean"]
    return " ".join(flags)


def _basename(pkg: str) -> str:
    """File name `go build -o <dir>/` gives the binary of a main package."""
    return pkg.rstrip("/").rsplit("/", 1)[-1]


def _batches(binaries: dict[str, str]) -> list[dict[str, str]]:
    """Split the binaries into `go build` runs whose packages end in distinct names (one run when possible)."""
    batches: list[dict[str, str]] = []
    for name, pkg in binaries.items():
        for batch in batches:
            if _basename(pkg) not in {_basename(p) for p in batch.values()}:
                batch[name] = pkg
                break
        else:
            batches.append({name: pkg})
    return batches


def _gocache(env: dict[str, str]) -> str:
    try:
        return subprocess.run(["go", "env", "GOCACHE"], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
