"""The browser demo in headless Chromium: loads both TF.js models, predicts like the SavedModel within
each variant's gate, and compares with a live `tfkit serve` over REST (CORS)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest

from tests.browser.demo_site import save_screenshot
from tests.browser.reference import parity_gate, saved_model_predict
from tests.support.server import LiveServer, free_port
from web.demo_app import tfjs_variants

pytestmark = pytest.mark.browser

TFJS_VARIANTS = ("float32", "float16", "uint8")
# Inside the range of the rows the conversion gates were proven on (x ~ N(2, 2)).
LINEAR_XS = (0.0, 1.5, -1.25, 5.0)
# Ids at both ends of the valid range (TF.js runs them as int32; the model hashes by modulo).
CUSTOM_IDS = (2**31 - 1, 0)


@dataclass(frozen=True)
class Shown:
    """One card's result row as the page shows it (data-value attributes carry full precision)."""

    tfjs: float | None
    server: float | None
    diff: float | None
    state: str
    error: str


def number(page: Any, selector: str) -> float | None:
    value = page.get_attribute(selector, "data-value")
    return float(value) if value else None


def shown(page: Any, model: str) -> Shown:
    return Shown(
        tfjs=number(page, f"#{model}-tfjs"),
        server=number(page, f"#{model}-server"),
        diff=number(page, f"#{model}-diff"),
        state=str(page.get_attribute(f"#{model}", "data-state")),
        error=page.text_content(f"#{model}-error") or "",
    )


def submit(page: Any, model: str) -> Shown:
    runs = int(page.get_attribute(f"#{model}", "data-runs"))
    page.click(f"#{model}-run")
    page.wait_for_selector(f"#{model}[data-runs='{runs + 1}']", timeout=60_000)
    return shown(page, model)


def predict_linear(page: Any, x: float) -> Shown:
    page.fill("#linear-x", repr(x))
    return submit(page, "linear")


def predict_ctr(
    page: Any, feature: list[float] | None = None, ids: tuple[int, int] | None = None, row: int | None = None
) -> Shown:
    if row is not None:
        page.select_option("#ctr-row", f"row:{row}")
    if feature is not None:
        page.fill("#ctr-feature", ", ".join(repr(v) for v in feature))
    if ids is not None:
        page.fill("#ctr-user", str(ids[0]))
        page.fill("#ctr-article", str(ids[1]))
    return submit(page, "ctr")


def url(base: str, **query: str) -> str:
    return f"{base}/?{urlencode(query)}"


def custom_feature() -> list[float]:
    rng = np.random.default_rng(7)
    return [float(v) for v in rng.uniform(-1.0, 1.0, 121).astype(np.float32)]


def test_page_loads_both_models_without_console_errors(
    open_page: Any, demo_url: str, demo_samples: dict[str, list[dict[str, Any]]]
) -> None:
    page, log = open_page(url(demo_url))
    assert page.get_attribute("body", "data-ready") == "true", page.text_content("#status")
    assert page.is_enabled("#linear-run") and page.is_enabled("#ctr-run")
    status = page.text_content("#status") or ""
    assert "cpu backend" in status and "variant float32" in status
    assert "tfjs/linear/float32/model.json" in (page.text_content("#linear-info") or "")
    assert "tfjs/ctr/float32/model.json" in (page.text_content("#ctr-info") or "")
    assert page.text_content("#ctr-row option") == "sample row 0 " + (
        f"(user {demo_samples['ctr'][0]['user_id']}, article {demo_samples['ctr'][0]['article_id']})"
    )
    assert log.problems() == []
    # Works offline: TF.js, bundles and data all come from the demo's own origin.
    assert f"{demo_url}/vendor/tf-converter.min.js" in log.requested
    assert [u for u in log.requested if not u.startswith(f"{demo_url}/")] == []


@pytest.mark.parametrize("variant", TFJS_VARIANTS)
def test_predictions_match_saved_model_and_server(
    open_page: Any, demo_url: str, artifacts: Path, live_server: LiveServer,
    demo_samples: dict[str, list[dict[str, Any]]], variant: str,
) -> None:  # fmt: skip
    assert any(variant in vs for vs in tfjs_variants(artifacts).values()), f"no model ships tfjs {variant}"
    page, log = open_page(url(demo_url))
    if variant != "float32":  # switch like a user: pick the variant, Apply, models reload
        page.select_option("#variant", variant)
        page.click("#apply-settings")
        page.wait_for_function(
            f"document.body.dataset.ready === 'true' && "
            f"document.getElementById('status').textContent.includes('variant {variant}')",
            timeout=120_000,
        )
    assert page.input_value("#server-url") == live_server.rest_url

    cases: list[tuple[str, str, Shown, float]] = []
    for x in (*LINEAR_XS, demo_samples["linear"][0]["x"]):
        expected = saved_model_predict(artifacts, "linear", {"x": [[x]]})["y"][0][0]
        cases.append(("linear", f"x={x}", predict_linear(page, x), float(expected)))
    rows = demo_samples["ctr"][:3]
    for i, row in enumerate(rows):
        feed = {"feature": [row["feature"]], "user_id": [row["user_id"]], "article_id": [row["article_id"]]}
        expected = saved_model_predict(artifacts, "ctr", feed)["probability"][0][0]
        cases.append(("ctr", f"sample row {i}", predict_ctr(page, row=i), float(expected)))
    feature = custom_feature()
    feed = {"feature": [feature], "user_id": [CUSTOM_IDS[0]], "article_id": [CUSTOM_IDS[1]]}
    expected = saved_model_predict(artifacts, "ctr", feed)["probability"][0][0]
    cases.append(("ctr", "typed vector", predict_ctr(page, feature, CUSTOM_IDS), float(expected)))
    save_screenshot(page, f"demo-{variant}.png")
    if variant == "float32":
        save_screenshot(page, "demo.png")

    # Each model runs the chosen variant when it ships one, else its first (float32).
    loaded = {m: variant if variant in vs else vs[0] for m, vs in tfjs_variants(artifacts).items()}
    for model, model_variant in loaded.items():
        assert f"tfjs/{model}/{model_variant}/model.json" in (page.text_content(f"#{model}-info") or "")
    failures = []
    for model, label, result, expected in cases:
        gate = parity_gate(artifacts, "tfjs", model, loaded[model])
        if result.state != "done" or result.tfjs is None or result.server is None or result.diff is None:
            failures.append(f"{model} {label}: page shows {result}")
            continue
        if abs(result.tfjs - expected) > gate:
            failures.append(f"{model} {label}: TF.js {result.tfjs} vs SavedModel {expected} (gate {gate})")
        if not math.isclose(result.server, expected, rel_tol=1e-6, abs_tol=1e-6):
            failures.append(f"{model} {label}: server {result.server} vs SavedModel {expected}")
        if not math.isclose(result.diff, abs(result.tfjs - result.server), rel_tol=1e-9, abs_tol=1e-12):
            failures.append(
                f"{model} {label}: shown difference {result.diff} != |{result.tfjs} - {result.server}|"
            )
    assert failures == []
    assert log.problems() == []


def test_without_a_server_the_page_predicts_in_the_browser_only_until_one_is_entered(
    open_page: Any, demo_url: str, live_server: LiveServer
) -> None:
    page, log = open_page(url(demo_url, server=""))
    result = predict_linear(page, 2.0)
    assert result.state == "done" and result.tfjs is not None
    assert result.server is None and result.diff is None
    assert page.text_content("#linear-diff") == "no server configured"

    page.fill("#server-url", live_server.rest_url + "/")
    page.click("#apply-settings")
    page.wait_for_function(
        f"document.getElementById('status').textContent.includes('{live_server.rest_url}')"
    )
    result = predict_linear(page, 2.0)
    assert result.state == "done" and result.server is not None and result.diff is not None
    assert log.problems() == []


def test_bad_feature_vector_is_reported_on_the_page(open_page: Any, demo_url: str) -> None:
    page, log = open_page(url(demo_url))
    page.fill("#ctr-feature", "1, 2, 3")
    page.click("#ctr-run")
    page.wait_for_selector("#ctr[data-state=error]")
    assert "feature: expected 121 numbers, got 3" in (page.text_content("#ctr-error") or "")

    page.fill("#ctr-feature", ", ".join(["0.5"] * 120 + ["abc"]))
    result = submit(page, "ctr")
    assert result.state == "error" and result.tfjs is None
    assert "input 'feature': every value must be a finite number" in result.error
    assert log.problems() == []


def test_unreachable_server_is_reported_and_the_browser_result_stays(open_page: Any, demo_url: str) -> None:
    page, _ = open_page(url(demo_url, server=f"http://127.0.0.1:{free_port()}"))
    result = predict_linear(page, 1.0)
    assert result.tfjs is not None
    assert result.state == "error" and result.server is None
    assert result.error.startswith("server: ")
