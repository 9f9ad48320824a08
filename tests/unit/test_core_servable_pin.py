"""The one use of private TensorFlow API (serving/graph_session.py `session_callable`), pinned to the TF
version it was checked against, and its public fallback (issue 14, item 3)."""

from __future__ import annotations

import numpy as np
import pytest

from serving import graph_session
from serving.graph_session import PINNED_TF_VERSION, GraphSession, session_callable
from tests.support.tf1_models import half_plus_two_tf1_base

X = np.array([1.0, 2.0, 5.0], np.float32)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> GraphSession:
    return GraphSession.load(str(half_plus_two_tf1_base(tmp_path_factory.mktemp("pin")) / "1"), ["serve"])


def test_tensorflow_is_the_pinned_version() -> None:
    # Bumping TensorFlow: re-check `Session._make_callable_from_options`, then move the pin.
    import tensorflow as tf

    assert tf.__version__ == PINNED_TF_VERSION == "2.19.0"


def test_pinned_version_uses_the_c_level_callable(session: GraphSession) -> None:
    fn = session_callable(session._session, ["x:0"], ["y:0"])
    assert type(fn).__name__ == "_Callable"
    # No Python-side shape check: [3] runs through x:0 although its static shape is [-1, 1].
    np.testing.assert_allclose(fn(X)[0], [2.5, 3.0, 4.5])


def test_public_fallback_on_another_version(session: GraphSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_session, "PINNED_TF_VERSION", "0.0.0")
    fn = session_callable(session._session, ["x:0"], ["y:0"])
    assert type(fn).__name__ == "function"
    np.testing.assert_allclose(fn(X.reshape(3, 1))[0], [[2.5], [3.0], [4.5]])
    # Public Session.run checks fed shapes in Python (the fallback's one difference from upstream).
    with pytest.raises(ValueError, match="Cannot feed value of shape"):
        fn(X)
