"""ServerCore's rules for a config change, as pure functions, and the manager's resizable thread pools.

- `check_platforms`: server_core.cc ValidateNoModelsChangePlatforms.
- `version_labels`: server_core.cc UpdateModelVersionLabelMap, run BEFORE the new config's models are
  added, against the versions AVAILABLE at that moment.
- `failure_text`: the UNKNOWN text of load_servables_fast.cc (first config, "servable(s)") and of
  ServerCore::WaitUntilModelsAvailable (later reloads, "model(s)").
- `Slots`: a counting semaphore whose size can change (BasicManager's load / unload executors).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from serving.status import FailedPrecondition, InvalidArgument, ServingError
from serving.types import ModelConfig


def check_platforms(current: Mapping[str, str], configs: Sequence[ModelConfig]) -> None:
    """A model that stays in the config may not change its platform."""
    for config in configs:
        old = current.get(config.name)
        if old is not None and old != config.platform:
            raise InvalidArgument(
                f"Illegal to change a model's platform. For model {config.name} platform was {old} and new "
                f"platform requested is {config.platform}"
            )


def version_labels(
    configs: Sequence[ModelConfig],
    available: Mapping[str, set[int]],
    current: Mapping[str, Mapping[str, int]],
    allow_unavailable: bool,
) -> dict[str, dict[str, int]]:
    """The new label map {model: {label: version}}, or FAILED_PRECONDITION with upstream's text.

    Every label must name an AVAILABLE version. With --allow_version_labels_for_unavailable_models a label
    that is new, or that keeps its version, may name any version; moving an existing label to another
    version still needs that version AVAILABLE. Labels of models left out of the config are dropped.
    """
    new: dict[str, dict[str, int]] = {}
    for config in configs:
        model_labels = current.get(config.name, {})
        for label, version in sorted(config.version_labels.items()):
            moved = label in model_labels and model_labels[label] != version
            if not (allow_unavailable and not moved) and version not in available.get(config.name, set()):
                raise FailedPrecondition(
                    f"Request to assign label to version {version} of model {config.name}, which is not "
                    "currently available for inference"
                )
            new.setdefault(config.name, {})[label] = version
    return new


def failure_text(failures: list[tuple[str, int, ServingError | None]], what: str) -> str:
    """`N servable(s) did not become available: {{{name: m version: 1} due to error: CODE: text}, }`
    (the outer braces wrap the list, the next ones each entry, the inner ones ServableId::DebugString)."""
    parts = []
    for model, version, error in sorted(failures, key=lambda f: (f[0], f[1])):
        due = f" due to error: {error.code.name}: {error.message}" if error is not None else ""
        parts.append("{{name: " + model + f" version: {version}}}" + due + "}, ")
    return f"{len(failures)} {what}(s) did not become available: {{" + "".join(parts) + "}"


class Slots:
    """A counting semaphore whose size can change."""

    def __init__(self, size: int) -> None:
        self._size, self._used = max(1, size), 0
        self._cond = threading.Condition()

    def resize(self, size: int) -> None:
        with self._cond:
            self._size = max(1, size)
            self._cond.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._cond:
            while self._used >= self._size:
                self._cond.wait()
            self._used += 1
        try:
            yield
        finally:
            with self._cond:
                self._used -= 1
                self._cond.notify_all()
