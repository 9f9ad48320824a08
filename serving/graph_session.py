"""A SavedModel (TF1 graph-mode or TF2) loaded into one TensorFlow Session, run by tensor names.

This is what upstream's SavedModelBundleFactory does (servables/tensorflow/saved_model_bundle_factory.cc,
`LoadSessionBundleOrSavedModelBundle`): the MetaGraphDef's graph is imported into a Session, variables
are restored and the init op runs; every API then calls `Session::Run(feeds, fetches)` with the tensor
names of the SignatureDef. Loading is public API (`tf.compat.v1.saved_model.load` into a
`tf.compat.v1.Session`). Running goes through `session_callable`, the one place that touches private
TensorFlow API: on the pinned TF version (2.19.0, tests/unit/test_core_servable_pin.py) it builds the
session's C-level callable for each distinct (feeds, fetches) pair, which, like upstream's C++
`Session::Run`, has no Python-side feed checks: shapes are not validated against the placeholders and
a wrong dtype fails with TF's own "Expects arg[i] to be ..." text. On any other TF version it falls back
to public `Session.run`, which checks fed shapes against the placeholders' static shapes in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Feeds = Mapping[str, np.ndarray]
PINNED_TF_VERSION = "2.19.0"


def session_callable(session: Any, feeds: Sequence[str], fetches: Sequence[str]) -> Callable[..., Any]:
    """A callable `fn(*feed_values) -> list of fetched arrays` (private fast path on the pinned TF)."""
    import tensorflow as tf

    if tf.__version__ == PINNED_TF_VERSION:
        from tensorflow.core.protobuf import config_pb2

        options = config_pb2.CallableOptions(feed=list(feeds), fetch=list(fetches))
        return session._make_callable_from_options(options)
    feed_names, fetch_names = list(feeds), list(fetches)

    def run(*values: np.ndarray) -> list[np.ndarray]:
        return list(session.run(fetch_names, feed_dict=dict(zip(feed_names, values, strict=True))))

    return run


class GraphSession:
    """Thread-safe: `tf.compat.v1.Session` runs are, and callables are built once under a lock."""

    def __init__(self, session: Any, config: Any = None) -> None:
        self._session = session
        self.config = config  # the ConfigProto it was created with (None = TF's default)
        self._callables: dict[tuple[tuple[str, ...], tuple[str, ...]], Callable[..., Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str, tags: Sequence[str], config: Any = None) -> GraphSession:
        """Import the MetaGraphDef tagged `tags`, restore variables and run its init op."""
        import tensorflow as tf

        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=config)
        with graph.as_default():
            tf.compat.v1.saved_model.load(session, list(tags), path)
        graph.finalize()
        return cls(session, config)

    def run(self, feeds: Feeds, fetches: Sequence[str]) -> list[np.ndarray]:
        """Session::Run: feed tensors by name, fetch tensors by name (outputs in `fetches` order).
        Callables are keyed by the sorted names, as DirectSession keys its executors, so the cache
        stays bounded by the sets of names, not their orders."""
        feed_names = tuple(sorted(feeds))
        fetch_names = tuple(sorted(set(fetches)))
        key = (feed_names, fetch_names)
        fn = self._callables.get(key)
        if fn is None:
            fn = self._make_callable(key)
        values = fn(*(feeds[name] for name in feed_names))
        if fetch_names == tuple(fetches):
            return list(values)
        by_name = dict(zip(fetch_names, values, strict=True))
        return [by_name[name] for name in fetches]

    def _make_callable(self, key: tuple[tuple[str, ...], tuple[str, ...]]) -> Callable[..., Any]:
        with self._lock:
            fn = self._callables.get(key)
            if fn is None:
                feed_names, fetch_names = key
                fn = session_callable(self._session, feed_names, fetch_names)
                self._callables[key] = fn
            return fn

    def close(self) -> None:
        self._session.close()
