"""The demo's HTTP app: the static page, TF.js from node_modules, the TF.js bundles, config and sample rows.

Only named files are served: the page's own three files, three vendor scripts, `config.json`,
`samples.json`, and files under `<artifacts>/tfjs/` (starlette's StaticFiles, which refuses paths that
leave that directory). Nothing else of the artifacts directory or the repository is reachable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent
REPO = WEB_DIR.parent
PAGE_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
VENDOR_FILES = {
    "tf-core.min.js": "@tensorflow/tfjs-core/dist/tf-core.min.js",
    "tf-backend-cpu.min.js": "@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js",
    "tf-converter.min.js": "@tensorflow/tfjs-converter/dist/tf-converter.min.js",
}
VARIANT_ORDER = ("float32", "float16", "uint16", "uint8")
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class SiteContent:
    """Everything the page server needs; built once by the CLI (or a test) and passed in."""

    artifacts: Path
    server_url: str = ""
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    node_modules: Path = REPO / "node_modules"


def tfjs_variants(artifacts: Path) -> dict[str, list[str]]:
    """model -> variants that have a `tfjs/<model>/<variant>/model.json`."""
    found: dict[str, list[str]] = {}
    for model_json in sorted((artifacts / "tfjs").glob("*/*/model.json")):
        found.setdefault(model_json.parent.parent.name, []).append(model_json.parent.name)
    return {m: ordered(vs) for m, vs in found.items()}


def ordered(variants: set[str] | list[str]) -> list[str]:
    """float32 first, then by precision; unknown variant names last, alphabetically."""
    rank = {v: i for i, v in enumerate(VARIANT_ORDER)}
    return sorted(set(variants), key=lambda v: (rank.get(v, len(rank)), v))


def tfjs_gates(artifacts: Path) -> dict[str, dict[str, float]]:
    """model -> variant -> parity gate for the TF.js bundles (manifest first, then convert's defaults)."""
    from export.convert.settings import DEFAULT_GATES

    defaults = {variant: gate for (target, variant), gate in DEFAULT_GATES.items() if target == "tfjs"}
    gates: dict[str, dict[str, float]] = {}
    for model, variants in tfjs_variants(artifacts).items():
        gates[model] = {v: defaults[v] for v in variants if v in defaults}
    manifest_path = artifacts / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        for model, info in manifest.get("models", {}).items():
            for entry in info.get("artifacts", []):
                if entry.get("kind") == "tfjs" and entry.get("parity_gate") is not None:
                    gates.setdefault(model, {})[entry["variant"]] = float(entry["parity_gate"])
    return gates


def page_config(content: SiteContent) -> dict[str, Any]:
    """The page's `config.json`: where the bundles are, which variants each model has, the server.

    Models need not ship the same variants (linear ships float32 only): the page offers every variant and
    loads, per model, the chosen one or else that model's first (float32).
    """
    variants = tfjs_variants(content.artifacts)
    offered = ordered({v for vs in variants.values() for v in vs})
    return {
        "tfjsBase": "tfjs",
        "models": sorted(variants),
        "modelVariants": variants,
        "variants": offered,
        "variant": "float32" if "float32" in offered or not offered else offered[0],
        "gates": tfjs_gates(content.artifacts),
        "server": content.server_url.rstrip("/"),
        "samples": "samples.json",
    }


def check_content(content: SiteContent) -> None:
    """Fail early, naming the missing path, instead of serving a page that cannot load."""
    tfjs_dir = content.artifacts / "tfjs"
    if not tfjs_dir.is_dir():
        raise FileNotFoundError(f"no TF.js bundles: {tfjs_dir} does not exist (run `make export`)")
    variants = tfjs_variants(content.artifacts)
    from export.models import names

    missing_models = sorted(set(names()) - set(variants))
    if missing_models:
        raise FileNotFoundError(f"no model.json for {', '.join(missing_models)} under {tfjs_dir}")
    for rel in VENDOR_FILES.values():
        path = content.node_modules / rel
        if not path.is_file():
            raise FileNotFoundError(f"TF.js script missing: {path} (run `make install` for node_modules)")


def create_app(content: SiteContent) -> Starlette:
    """The demo site over `content` (call `check_content` first for early, clear errors)."""
    config = page_config(content)

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in PAGE_FILES:
            return Response("not found", status_code=404)
        return FileResponse(WEB_DIR / name, media_type=PAGE_FILES[name], headers=NO_STORE)

    async def vendor(request: Request) -> Response:
        rel = VENDOR_FILES.get(request.path_params["name"])
        if rel is None:
            return Response("not found", status_code=404)
        return FileResponse(content.node_modules / rel, media_type="text/javascript")

    async def config_json(_: Request) -> Response:
        return JSONResponse(config, headers=NO_STORE)

    async def samples_json(_: Request) -> Response:
        return JSONResponse(content.samples, headers=NO_STORE)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/config.json", config_json),
            Route("/samples.json", samples_json),
            Route("/vendor/{name}", vendor),
            Mount("/tfjs", StaticFiles(directory=content.artifacts / "tfjs"), name="tfjs"),
            Route("/{name}", page),
        ]
    )


def sample_rows(artifacts: Path, n: int = 8, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """A few real rows per registered model for the page's pickers (imports TF): one JSON object per row,
    a one-value input as a number, a vector input as a list."""
    from export.models import names
    from export.samples import sample_inputs

    out: dict[str, list[dict[str, Any]]] = {}
    for model in names():
        inputs = sample_inputs(model, artifacts, n=n, seed=seed)
        count = len(next(iter(inputs.values())))
        out[model] = [
            {k: v[i].item() if v[i].size == 1 else v[i].tolist() for k, v in inputs.items()}
            for i in range(count)
        ]
    return out
