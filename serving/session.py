"""Running a session and the errors a run may raise.

`Session` is Session::Run by tensor names (serving/graph_session.py, serving/tflite_session.py). Errors
leave as `ServingError`s: TensorFlow runtime errors keep TF's code and text (the one error table in
serving/status.py maps the code), anything else becomes INTERNAL with a fixed text, its traceback
logged, so no Python exception text reaches a client.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import ParamSpec, Protocol, TypeVar

import numpy as np

from serving.status import Internal, ServingError

log = logging.getLogger(__name__)

INTERNAL_TEXT = "Internal error while running the model; see the server log"
P = ParamSpec("P")
R = TypeVar("R")


class Session(Protocol):
    """Session::Run by tensor names (serving/graph_session.py, serving/tflite_session.py)."""

    def run(self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]: ...


def runtime_error(err: BaseException) -> ServingError:
    """An error raised inside a run as the ServingError a client gets (TF's code and text, or INTERNAL)."""
    import tensorflow as tf

    if isinstance(err, ServingError):
        return err
    if isinstance(err, tf.errors.OpError):
        return ServingError.from_code(int(err.error_code), err.message)
    log.error("unexpected error while running a model", exc_info=err)
    return Internal(INTERNAL_TEXT)


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Every exception leaving `fn` is a ServingError (unexpected ones: INTERNAL, logged)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            raise runtime_error(err) from err

    return wrapper


def run_session(
    session: Session, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]
) -> list[np.ndarray]:
    try:
        return session.run(feeds, fetches)
    except Exception as err:
        raise runtime_error(err) from err
