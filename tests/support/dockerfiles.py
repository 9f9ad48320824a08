"""Test-only readers of the build files: Dockerfile instructions, ENTRYPOINT, COPY lines, Makefile variables.

The k8s/Docker tests use them to prove that serving/Dockerfile, the k8s manifests and `make serve` pass
the same arguments to the serving process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from k8s.manifests import ManifestError


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile, comments dropped and continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        logical.append(pending)
        pending = ""
    if pending:
        raise ManifestError(f"{path}: ends inside a continued line")
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def dockerfile_entrypoint(path: Path) -> list[str]:
    """The exec-form (JSON array) ENTRYPOINT of a Dockerfile; ManifestError for shell form or none."""
    entries = [rest for keyword, rest in dockerfile_instructions(path) if keyword == "ENTRYPOINT"]
    if not entries:
        raise ManifestError(f"{path}: no ENTRYPOINT")
    try:
        value = json.loads(entries[-1])
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}: ENTRYPOINT is not exec form (a JSON array): {err}") from err
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ManifestError(f"{path}: ENTRYPOINT must be a JSON array of strings")
    return value


def dockerfile_copies(path: Path) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY without --from, in order."""
    copies = []
    for keyword, rest in dockerfile_instructions(path):
        if keyword != "COPY":
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        copies.append((parts[:-1], parts[-1]))
    return copies


def makefile_variable(path: Path, name: str) -> str:
    """The value of `NAME := ...` in a Makefile, continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    match = re.search(rf"^{re.escape(name)}\s*:?=\s*(.*)$", text, re.MULTILINE)
    if match is None:
        raise ManifestError(f"{path}: no variable {name}")
    return " ".join(match.group(1).split())
