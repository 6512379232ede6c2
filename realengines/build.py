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

    @property
    def module_dir(self) -> Path:
        return ENGINES / self.name


COMPONENTS: dict[str, Component] = {
    "kube": Component("kube", {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "etcd": "./cmd/etcd",
    }),
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
    with tempfile.TemporaryDirectory(prefix=f"build-{component_name}-", dir=CACHE) as tmp:
        command = ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp + os.sep,
                   *component.binaries.values()]
        print(f"{component_name}: building {', '.join(component.binaries)} in {component.module_dir} "
              f"({go_version()}, GOCACHE={_gocache(env)}); log: {log}", file=out, flush=True)
        with log.open("w") as handle:
            handle.write(" ".join(command) + "\n")
            handle.flush()
            result = subprocess.run(command, cwd=component.module_dir, env=env, stdout=handle,
                                    stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-20:])
            raise BuildError(f"{component_name}: go build failed (exit {result.returncode}); "
                             f"last lines of {log}:\n{tail}")
        for name, pkg in component.binaries.items():
            built = Path(tmp) / pkg.rstrip("/").rsplit("/", 1)[-1]
            if not built.exists():
                raise BuildError(f"{component_name}: go build produced no binary for {pkg}")
            os.replace(built, binary(name))
    stamp_path(component).write_text(current + "\n")
    elapsed = time.monotonic() - started
    print(f"{component_name}: built in {elapsed:.0f}s ({elapsed / 60:.1f} min); binaries:", file=out)
    for name in component.binaries:
        print(f"  {binary(name)}  {_size(binary(name).stat().st_size)}", file=out)
    return True


def _gocache(env: dict[str, str]) -> str:
    try:
        return subprocess.run(["go", "env", "GOCACHE"], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
