"""Version discovery on a model base path and the version policies (contract §3.2).

Pure functions, no TensorFlow: `discover_versions` lists the numeric children of a base path like
FileSystemStoragePathSource (non-numeric names such as temp dirs are ignored; `00000123` is version 123)
and `aspired_versions` applies `latest {n}` / `all` / `specific {versions}`.
"""

from __future__ import annotations

import logging
import os
import re

from serving.types import VersionPolicy

log = logging.getLogger(__name__)

_NUMERIC = re.compile(r"^\d+$")


def discover_versions(model: str, base_path: str) -> dict[int, str] | None:
    """version -> directory for every numeric child directory of `base_path`; None if unreadable."""
    try:
        entries = sorted(os.scandir(base_path), key=lambda e: e.name)
    except OSError as err:
        log.error("File system error polling base path %s of servable %s: %s", base_path, model, err)
        return None
    versions: dict[int, str] = {}
    for entry in entries:
        if not _NUMERIC.match(entry.name) or not entry.is_dir():
            continue
        version = int(entry.name)
        if version in versions:
            log.warning(
                "Directories %s and %s both name version %d of %s; using the first",
                versions[version],
                entry.path,
                version,
                model,
            )
            continue
        versions[version] = entry.path
    if not versions:
        log.warning(
            "No versions of servable %s found under base path %s. Did you forget to name your leaf "
            "directory as a number (eg. '/1/')?",
            model,
            base_path,
        )
    return versions


def aspired_versions(model: str, policy: VersionPolicy, available: set[int]) -> set[int]:
    """The versions `policy` wants loaded among those found on disk."""
    if policy.kind == "all":
        return set(available)
    if policy.kind == "specific":
        wanted = set(policy.versions)
        for missing in sorted(wanted - available):
            log.warning("Version %d of servable %s not found under its base path", missing, model)
        return wanted & available
    return set(sorted(available, reverse=True)[: max(1, policy.num_versions)])
