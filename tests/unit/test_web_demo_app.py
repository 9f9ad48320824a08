"""The demo's page server: serves only the page, three TF.js scripts, config, samples and DIR/tfjs."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.browser.demo_site import running_site
from web.demo_app import REPO, VENDOR_FILES, SiteContent, check_content, page_config

SECRET = "not-for-the-browser"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """An artifacts-shaped tree: tfjs bundles (linear: 2 variants, ctr: 1), a manifest, a model file."""
    for model, variants in {"linear": ("float32", "uint8"), "ctr": ("float32",)}.items():
        for variant in variants:
            write(
                tmp_path / "tfjs" / model / variant / "model.json", json.dumps({"model": model, "v": variant})
            )
    manifest = {
        "models": {
            "ctr": {"artifacts": [{"kind": "tfjs", "variant": "float32", "parity_gate": 2e-6}]},
            "linear": {"artifacts": [{"kind": "tflite", "variant": "float32", "parity_gate": 7.0}]},
        },
        "secret": SECRET,
    }
    write(tmp_path / "manifest.json", json.dumps(manifest))
    write(tmp_path / "models" / "ctr" / "1" / "saved_model.pb", SECRET)
    return tmp_path


@pytest.fixture
def site(bundle_dir: Path) -> Iterator[str]:
    samples: dict[str, list[dict[str, Any]]] = {
        "ctr": [{"feature": [0.5] * 121, "user_id": 3, "article_id": 4}],
        "linear": [{"x": 1.0}],
    }
    with running_site(SiteContent(bundle_dir, "http://127.0.0.1:8501/", samples)) as url:
        yield url


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET without any client-side path normalisation (requests would collapse `..`)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serves_the_page_and_its_files(site: str) -> None:
    index = requests.get(f"{site}/", timeout=10)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert '<script src="vendor/tf-core.min.js">' in index.text
    assert requests.get(f"{site}/app.js", timeout=10).headers["content-type"].startswith("text/javascript")
    assert requests.get(f"{site}/style.css", timeout=10).status_code == 200


def test_serves_tfjs_from_node_modules_byte_for_byte(site: str) -> None:
    for name, rel in VENDOR_FILES.items():
        response = requests.get(f"{site}/vendor/{name}", timeout=10)
        assert response.status_code == 200
        assert response.content == (REPO / "node_modules" / rel).read_bytes()


def test_config_lists_variants_per_model_gates_and_server(site: str) -> None:
    config = requests.get(f"{site}/config.json", timeout=10).json()
    assert config["models"] == ["ctr", "linear"]
    assert config["modelVariants"] == {"ctr": ["float32"], "linear": ["float32", "uint8"]}
    assert config["variants"] == ["float32", "uint8"] and config["variant"] == "float32"
    assert config["gates"] == {"ctr": {"float32": 2e-6}, "linear": {"float32": 1e-5, "uint8": 5e-3}}
    assert config["server"] == "http://127.0.0.1:8501"
    assert config["tfjsBase"] == "tfjs"


def test_serves_bundles_and_samples(site: str) -> None:
    assert requests.get(f"{site}/tfjs/linear/uint8/model.json", timeout=10).json() == {
        "model": "linear",
        "v": "uint8",
    }
    assert requests.get(f"{site}/samples.json", timeout=10).json()["ctr"][0]["user_id"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/tfjs/../manifest.json",
        "/tfjs/%2e%2e/manifest.json",
        "/tfjs/..%2fmanifest.json",
        "/tfjs/linear/../../models/ctr/1/saved_model.pb",
        "/tfjs/%2e%2e/%2e%2e/web/demo_app.py",
        "/vendor/..%2f..%2fpackage.json",
        "/vendor/tf-core.js",
        "/demo_app.py",
        "/serve_demo.py",
        "/manifest.json",
        "/..%2fpyproject.toml",
    ],
)
def test_nothing_outside_the_served_files_is_reachable(site: str, path: str) -> None:
    status, body = raw_get(site, path)
    assert status in (400, 404)
    assert SECRET.encode() not in body and b"import" not in body


def test_config_without_manifest_uses_default_gates(bundle_dir: Path) -> None:
    (bundle_dir / "manifest.json").unlink()
    config = page_config(SiteContent(bundle_dir))
    assert config["gates"]["ctr"] == {"float32": 1e-5}
    assert config["server"] == ""


def test_check_content_names_what_is_missing(tmp_path: Path, bundle_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no TF.js bundles: .*/tfjs does not exist"):
        check_content(SiteContent(tmp_path / "nowhere"))
    (bundle_dir / "tfjs" / "ctr" / "float32" / "model.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"no model\.json for ctr under"):
        check_content(SiteContent(bundle_dir))
    write(bundle_dir / "tfjs" / "ctr" / "float32" / "model.json", "{}")
    with pytest.raises(
        FileNotFoundError, match=r"TF.js script missing: .*tf-core.min.js \(run `make install`"
    ):
        check_content(SiteContent(bundle_dir, node_modules=tmp_path / "empty"))
