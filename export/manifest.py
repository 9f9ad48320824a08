"""`$ARTIFACTS/manifest.json`: per model the latest version, its metrics and every artifact built from it.

```
{"models": {"<name>": {"version": int, "path": "models/<name>/<v>", "metrics": {...},
                        "artifacts": [{"kind", "variant", "path", "sha256", "bytes", "signature", ...}]}}}
```
Updates are read-modify-write under an exclusive lock on `.manifest.lock` and published with an atomic
rename, so concurrent writers (export, convert) never leave a torn file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
LOCK = ".manifest.lock"


def load_manifest(artifacts: Path) -> dict[str, Any]:
    """The manifest of an artifacts directory (`{"models": {}}` when none exists yet)."""
    path = Path(artifacts) / MANIFEST
    if not path.is_file():
        return {"models": {}}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    data.setdefault("models", {})
    return data


def _write(artifacts: Path, manifest: dict[str, Any]) -> None:
    path = Path(artifacts) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def editing(artifacts: Path) -> Iterator[dict[str, Any]]:
    """Lock, load, let the caller mutate the dict, then write it back atomically."""
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    with open(Path(artifacts) / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            manifest = load_manifest(artifacts)
            yield manifest
            _write(artifacts, manifest)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def tree_digest(path: Path) -> tuple[str, int]:
    """(sha256, total bytes) of a file or a directory tree.

    For a directory, files are visited in sorted order of their relative POSIX path and the hash covers,
    per file, its relative path, a NUL byte, its size as 8 little-endian bytes and its content.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    total = 0
    for file in files:
        size = file.stat().st_size
        total += size
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0" + size.to_bytes(8, "little"))
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest(), total


def artifact_entry(
    artifacts: Path, kind: str, variant: str, path: Path, signature: str = "serving_default", **extra: Any
) -> dict[str, Any]:
    """A manifest artifact entry for `path` (relative path, sha256 and bytes computed here)."""
    sha, size = tree_digest(path)
    rel = Path(path).resolve().relative_to(Path(artifacts).resolve()).as_posix()
    return {
        "kind": kind,
        "variant": variant,
        "path": rel,
        "sha256": sha,
        "bytes": size,
        "signature": signature,
        **extra,
    }


def set_model(artifacts: Path, model: str, version: int, metrics: dict[str, Any]) -> None:
    """Record `model`'s latest version and metrics.

    A new version drops the model's artifact entries (they were built from the previous version); the
    same version keeps them.
    """
    with editing(artifacts) as manifest:
        entry = manifest["models"].setdefault(model, {"artifacts": []})
        if entry.get("version") != int(version):
            entry["artifacts"] = []
        entry["version"] = int(version)
        entry["path"] = f"models/{model}/{int(version)}"
        entry["metrics"] = metrics
        entry.setdefault("artifacts", [])


def add_artifact(artifacts: Path, model: str, entry: dict[str, Any]) -> None:
    """Add an artifact entry to `model`, replacing any with the same kind and variant."""
    missing = {"kind", "variant", "path"} - entry.keys()
    if missing:
        raise ValueError(f"artifact entry lacks {sorted(missing)}")
    with editing(artifacts) as manifest:
        model_entry = manifest["models"].setdefault(model, {"artifacts": []})
        kept = [
            a
            for a in model_entry.get("artifacts", [])
            if (a.get("kind"), a.get("variant")) != (entry["kind"], entry["variant"])
        ]
        model_entry["artifacts"] = [*kept, entry]
