"""Where the emulated hub gets the CustomResourceDefinitions it validates objects against.

``kubemu/crds.lock.json`` lists every CRD file the sandbox needs: the upstream project, the file's URL at a
pinned commit and its sha256. :func:`resolve` picks the first source that works, in this order:

1. ``MCG_CRD_DIR`` (or an explicit directory): taken as given, the user's choice (it may hold a subset);
2. the project cache ``.cache/crds``, when it holds every file of the lock with the right checksum;
3. the upstream URLs, downloaded into the cache (``fetch``); a file whose sha256 differs from the lock is
   refused and never written;
4. ``../shared/crds`` next to the checkout (the development workspace), verified against the lock too;
5. otherwise :class:`CrdError`, saying how to provide them. Only when the caller allows it explicitly
   (``MCG_SANDBOX_SCHEMALESS=1``) does the sandbox run without schemas instead, and says so.

    python -m kubemu.crds fetch      # fill .cache/crds from upstream (scripts/setup.sh runs it)
    python -m kubemu.crds resolve    # print the source the sandbox would use, as JSON
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CrdError", "CrdSource", "LOCK_FILE", "fetch", "load_lock", "resolve", "verify"]

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = Path(__file__).resolve().with_name("crds.lock.json")
CACHE_DIR = ROOT / ".cache" / "crds"
SHARED_DIR = ROOT.parent / "shared" / "crds"
ENV_DIR = "MCG_CRD_DIR"
ENV_SCHEMALESS = "MCG_SANDBOX_SCHEMALESS"
# Seconds for one download; a blocked network fails the first file and the fetch stops there.
FETCH_TIMEOUT = 10.0


class CrdError(Exception):
    """No usable CRD source, or a file whose checksum differs from the lock."""


@dataclass
class CrdSource:
    """The directory the hub loads its CRDs from (None: no validation), and how it was chosen."""

    source: str  # MCG_CRD_DIR, cache, fetched, shared, none
    directory: str | None
    count: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.directory is None:
            return "no CRD schemas: objects are NOT validated (" + "; ".join(self.notes) + ")"
        return f"{self.count} CRDs from {self.source} ({self.directory})"


def load_lock(path: Path = LOCK_FILE) -> list[dict[str, str]]:
    """The lock's file entries: file, repo, path, url, sha256."""
    return json.loads(path.read_text())["files"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(directory: Path, lock: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """The lock's files missing from ``directory``, and those present with another checksum."""
    missing, different = [], []
    for entry in lock:
        path = directory / entry["file"]
        if not path.is_file():
            missing.append(entry["file"])
        elif _sha256(path) != entry["sha256"]:
            different.append(entry["file"])
    return missing, different


def _download(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec: URLs come from the lock
        return response.read()


def fetch(cache: Path, lock: list[dict[str, str]], *, timeout: float = FETCH_TIMEOUT) -> list[str]:
    """Download the lock's files missing from ``cache`` (or differing); returns the files written.

    Raises CrdError when a download's sha256 differs from the lock (nothing is written for it), and OSError
    (URLError, timeout) when the upstream cannot be reached: the first such failure stops the fetch."""
    cache.mkdir(parents=True, exist_ok=True)
    missing, different = verify(cache, lock)
    todo = set(missing) | set(different)
    written = []
    for entry in lock:
        if entry["file"] not in todo:
            continue
        data = _download(entry["url"], timeout)
        got = hashlib.sha256(data).hexdigest()
        if got != entry["sha256"]:
            raise CrdError(f"refused {entry['file']} from {entry['url']}: its sha256 is {got}, the lock "
                           f"({LOCK_FILE.name}) says {entry['sha256']}. Nothing was written; check the URL, a proxy "
                           "in the way, or update the lock on purpose.")
        with tempfile.NamedTemporaryFile(dir=cache, delete=False, prefix=f".{entry['file']}.") as tmp:
            tmp.write(data)
        os.replace(tmp.name, cache / entry["file"])
        written.append(entry["file"])
    return written


def _count(directory: Path) -> int:
    return len(list(directory.glob("*.yaml")))


def _how_to() -> str:
    return (f"Provide the CRDs one of these ways: run 'bash scripts/setup.sh' (or 'python -m kubemu.crds fetch') "
            f"with access to raw.githubusercontent.com, which fills {CACHE_DIR} from the pinned upstream files "
            f"listed in {LOCK_FILE.relative_to(ROOT)}; or set {ENV_DIR} to a directory holding them; or set "
            f"{ENV_SCHEMALESS}=1 (sandbox: mcg_sandbox_allow_schemaless=true) to run without schema validation.")


def resolve(*, explicit: Path | None = None, env: dict[str, str] | None = None, cache: Path = CACHE_DIR,
            shared: Path = SHARED_DIR, lock_file: Path = LOCK_FILE, download: bool = True,
            allow_schemaless: bool | None = None, timeout: float = FETCH_TIMEOUT) -> CrdSource:
    """The first usable CRD source (see the module's docstring). Raises CrdError when none is."""
    env = dict(os.environ if env is None else env)
    notes: list[str] = []
    chosen = explicit or (Path(env[ENV_DIR]) if env.get(ENV_DIR) else None)
    if chosen is not None:
        if not chosen.is_dir() or _count(chosen) == 0:
            raise CrdError(f"{ENV_DIR if explicit is None else 'the CRD directory'} {chosen} holds no *.yaml CRD "
                           "file. " + _how_to())
        return CrdSource(ENV_DIR if explicit is None else "directory", str(chosen), _count(chosen))
    lock = load_lock(lock_file)
    missing, different = verify(cache, lock) if cache.is_dir() else ([e["file"] for e in lock], [])
    if not missing and not different:
        return CrdSource("cache", str(cache), len(lock))
    if download:
        try:
            written = fetch(cache, lock, timeout=timeout)
            return CrdSource("fetched", str(cache), len(lock), [f"downloaded {len(written)} file(s)"])
        except (OSError, ValueError) as e:  # URLError, timeouts, refused connections
            notes.append(f"upstream not reachable ({getattr(e, 'reason', e)})")
    if shared.is_dir():
        s_missing, s_different = verify(shared, lock)
        if s_different:
            raise CrdError(f"{shared} holds CRD files whose sha256 differs from {LOCK_FILE.name}: "
                           f"{', '.join(s_different)}. Restore them, or set {ENV_DIR} to use that directory as it is.")
        if not s_missing:
            return CrdSource("shared", str(shared), len(lock), notes)
        notes.append(f"{shared} lacks {len(s_missing)} file(s) of the lock")
    else:
        notes.append(f"no {shared}")
    if allow_schemaless is None:
        allow_schemaless = env.get(ENV_SCHEMALESS, "").lower() in ("1", "true", "yes")
    if allow_schemaless:
        return CrdSource("none", None, 0, notes + [f"{ENV_SCHEMALESS} allows running without them"])
    raise CrdError("No CRDs for the emulated hub: " + "; ".join(notes) + ". " + _how_to())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubemu.crds", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["fetch", "resolve"])
    parser.add_argument("--quiet", action="store_true", help="fetch: one line, and exit 0 when upstream is unreachable")
    args = parser.parse_args(argv)
    if args.command == "resolve":
        try:
            print(json.dumps(resolve().as_dict()))
        except CrdError as e:
            print(json.dumps({"source": "failed", "msg": str(e)}))
            return 1
        return 0
    lock = load_lock()
    try:
        written = fetch(CACHE_DIR, lock)
    except CrdError as e:
        print(f"crds: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"crds: upstream CRDs not reachable ({getattr(e, 'reason', e)}); the sandbox falls back to "
              f"${ENV_DIR} or {SHARED_DIR} where present", file=sys.stderr)
        return 0 if args.quiet else 1
    print(f"crds: {len(lock)} CRD files in {CACHE_DIR} verified against {LOCK_FILE.name} ({len(written)} downloaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
