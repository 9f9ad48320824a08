"""`$ARTIFACTS/manifest.json`, the artifact ledger: per model its latest version, the registry model that
produced it, its metrics and every artifact built from it.

```
{"models": {"<name>": {"version": int, "path": "models/<name>/<v>", "kit_model": "<registry name>",
                        "metrics": {...},
                        "artifacts": [{"kind", "variant", "path", "signature", "bytes", "sha256",
                                       "files": [{"path", "sha256", "bytes"}], ...}]}}}
```
Every artifact entry (SavedModel version, TFLite file, TF.js bundle, signature sidecar) is built by
`artifact_entry`. `files` lists each file with its own SHA-256 and size, paths relative to the artifacts
directory, so `sha256sum_lines(entry)` is `sha256sum -c` input run from there. The entry's `sha256` is
the one digest of an artifact: the SHA-256 of exactly that text (one `<hex>  <path>` line per file,
sorted by path). `bytes` is the sum of the files' sizes.

Each command writes the manifest once: `editing()` locks `.manifest.lock`, loads, lets the command record
everything, and publishes with one atomic rename (temp file + os.replace), so concurrent writers never
leave a torn or half-updated file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
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
    """Lock, load, let the caller mutate the dict, then write it back atomically (nothing on error)."""
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    with open(Path(artifacts) / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            manifest = load_manifest(artifacts)
            yield manifest
            _write(artifacts, manifest)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256sum_lines(entry: dict[str, Any]) -> str:
    """`sha256sum -c` input for an entry's files (run it in the artifacts directory)."""
    return "".join(f"{f['sha256']}  {f['path']}\n" for f in entry["files"])


def artifact_entry(
    artifacts: Path,
    kind: str,
    variant: str,
    path: Path,
    files: Iterable[Path] | None = None,
    signature: str = "serving_default",
    **extra: Any,
) -> dict[str, Any]:
    """The ledger entry of one artifact at `path` (a file or a directory).

    `files` defaults to `path` itself, or every file under it for a directory."""
    root = Path(artifacts).resolve()
    path = Path(path)
    if files is None:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    paths = sorted((Path(f) for f in files), key=lambda f: f.resolve().relative_to(root).as_posix())
    records: list[dict[str, Any]] = [
        {
            "path": f.resolve().relative_to(root).as_posix(),
            "sha256": file_sha256(f),
            "bytes": f.stat().st_size,
        }
        for f in paths
    ]
    entry: dict[str, Any] = {
        "kind": kind,
        "variant": variant,
        "path": path.resolve().relative_to(root).as_posix(),
        "signature": signature,
        "bytes": sum(int(r["bytes"]) for r in records),
        "files": records,
    }
    entry["sha256"] = hashlib.sha256(sha256sum_lines(entry).encode()).hexdigest()
    return {**entry, **extra}


def record_version(
    manifest: dict[str, Any], model: str, version: int, metrics: dict[str, Any], kit_model: str
) -> None:
    """Record `model`'s latest version, the registry model that produced it and its metrics.

    A new version drops the model's artifact entries (they were built from the previous version); the
    same version keeps them.
    """
    entry = manifest["models"].setdefault(model, {"artifacts": []})
    if entry.get("version") != int(version):
        entry["artifacts"] = []
    entry["version"] = int(version)
    entry["path"] = f"models/{model}/{int(version)}"
    entry["kit_model"] = kit_model
    entry["metrics"] = metrics
    entry.setdefault("artifacts", [])


def put_artifact(manifest: dict[str, Any], model: str, entry: dict[str, Any]) -> None:
    """Add an artifact entry to `model`, replacing any with the same kind and variant."""
    missing = {"kind", "variant", "path", "files", "sha256"} - entry.keys()
    if missing:
        raise ValueError(f"artifact entry lacks {sorted(missing)}")
    model_entry = manifest["models"].setdefault(model, {"artifacts": []})
    kept = [
        a
        for a in model_entry.get("artifacts", [])
        if (a.get("kind"), a.get("variant")) != (entry["kind"], entry["variant"])
    ]
    model_entry["artifacts"] = [*kept, entry]
