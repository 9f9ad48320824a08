"""Render every kustomize overlay under k8s/overlays to one YAML file each (`make k8s-render`).

    python -m k8s.render --out k8s/rendered [--overlay dev ...] [--kubectl kubectl]

Uses `kubectl kustomize` (kustomize built into kubectl), with kustomize's default load restrictions: the
serving configs reach the base through serving/kustomization.yaml, so no file is copied or loaded from
outside a kustomization root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

K8S_DIR = Path(__file__).resolve().parent
OVERLAYS_DIR = K8S_DIR / "overlays"
COMPONENTS_DIR = K8S_DIR / "components"
HEADER = "# Rendered by `python -m k8s.render` from k8s/overlays/{name}: do not edit, edit the overlay.\n"


class RenderError(RuntimeError):
    """kubectl is missing or `kubectl kustomize` rejected a kustomization."""


@dataclass(frozen=True)
class RenderSettings:
    out: Path
    overlays: tuple[str, ...]
    kubectl: str = "kubectl"


def overlay_names() -> tuple[str, ...]:
    """Every overlay directory (one holding a kustomization.yaml), sorted."""
    found = OVERLAYS_DIR.glob("*/kustomization.yaml")
    return tuple(sorted(p.parent.name for p in found if not p.parent.name.startswith(".")))


def kustomize(path: Path, kubectl: str = "kubectl") -> str:
    """`kubectl kustomize <path>`: the rendered multi-document YAML; RenderError with kustomize's message."""
    exe = shutil.which(kubectl)
    if exe is None:
        raise RenderError(f"{kubectl!r} not found on PATH: needed to render {path}")
    proc = subprocess.run([exe, "kustomize", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize {path} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def overlay_with_components(directory: Path, overlay: str, components: Sequence[str], namespace: str) -> Path:
    """Write a kustomization in `directory` = k8s/overlays/<overlay> + k8s/components/<c>... in `namespace`
    (the overlay's, so generated names resolve), as a user enables a component in the overlay itself;
    returns `directory` (render it with `kustomize`). Used to validate components."""
    names = [*(COMPONENTS_DIR / c for c in components), OVERLAYS_DIR / overlay]
    missing = [str(p) for p in names if not (p / "kustomization.yaml").exists()]
    if missing:
        raise RenderError(f"no kustomization in {missing}")
    rel = [os.path.relpath(p, directory) for p in names]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\n"
        f"resources:\n  - {rel[-1]}\ncomponents:\n" + "".join(f"  - {r}\n" for r in rel[:-1])
    )
    return directory


def render_overlays(settings: RenderSettings) -> list[Path]:
    """Write <out>/<overlay>.yaml for each requested overlay; returns the written paths."""
    known = overlay_names()
    unknown = [name for name in settings.overlays if name not in known]
    if unknown:
        raise RenderError(f"unknown overlay(s) {unknown}: k8s/overlays has {list(known)}")
    settings.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in settings.overlays:
        target = settings.out / f"{name}.yaml"
        target.write_text(HEADER.format(name=name) + kustomize(OVERLAYS_DIR / name, settings.kubectl))
        written.append(target)
    return written


def parse_args(argv: Sequence[str] | None = None) -> RenderSettings:
    parser = argparse.ArgumentParser(prog="python -m k8s.render", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for <overlay>.yaml files")
    parser.add_argument("--overlay", action="append", help="overlay to render (repeatable; default: all)")
    parser.add_argument("--kubectl", default="kubectl", help="kubectl executable (default: kubectl)")
    args = parser.parse_args(argv)
    return RenderSettings(out=args.out, overlays=tuple(args.overlay or overlay_names()), kubectl=args.kubectl)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        written = render_overlays(settings)
    except RenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
