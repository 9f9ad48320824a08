"""TF Serving's version layout, `<base>/<model>/<int version>/`, published atomically.

A version is written into a hidden temporary directory beside its final place and then renamed, so a
server polling the base path never sees a half-written version (non-numeric names are ignored by it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def existing_versions(model_base: Path) -> list[int]:
    """Integer version directories under a model's base path, ascending."""
    if not model_base.is_dir():
        return []
    return sorted(int(p.name) for p in model_base.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_base: Path) -> int:
    """One past the highest existing version (1 for a new model)."""
    versions = existing_versions(model_base)
    return versions[-1] + 1 if versions else 1


@contextlib.contextmanager
def publishing(model_base: Path, version: int) -> Iterator[Path]:
    """Yield a temporary directory to fill; on success rename it to `<model_base>/<version>`.

    Fails before writing anything when the version already exists; on error the temporary directory is
    removed and nothing becomes visible (and one left by a killed run is removed by the next).
    """
    if version < 0:
        raise ValueError(f"version must be >= 0, got {version}")
    final = model_base / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists: choose another --version or omit it for the next one")
    model_base.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(model_base, ".tmp-")
    try:
        content = staging / "content"
        yield content
        os.rename(content, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staging_dir(parent: Path, head: str) -> Path:
    """A new hidden staging directory `<parent>/<head><pid>-<random>` for one writer process.

    Staging directories of writers that died (killed before their rename) are removed first."""
    for stale in parent.glob(glob.escape(head) + "*"):
        pid = stale.name[len(head) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{head}{os.getpid()}-", dir=parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
