"""Model lifecycle: discovery by polling, version policies, labels, availability-preserving transitions.

One `ModelManager` owns every configured model. A poller thread lists each base path every
`--file_system_poll_wait_seconds` and schedules a reconcile per model on a worker pool; a reconcile
loads (and warms up) every new aspired version *before* unloading the versions that are no longer
aspired, and only unloads them once an aspired version is AVAILABLE, so a version that fails to load
(END with its error, after `--max_num_load_retries`) never replaces a serving one (upstream
AvailabilityPreservingPolicy). Requests read an immutable per-model routing table that is swapped
atomically, so in-flight requests on an unloaded version finish on the servable they hold.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from serving.metrics import Metrics
from serving.servable import Servable
from serving.settings import ServerSettings
from serving.status import FailedPrecondition, InvalidArgument, NotFound, ServingError, Unknown
from serving.types import ModelConfig, ModelSpec, State, VersionStatus
from serving.versions import aspired_versions, discover_versions
from serving.warmup import run_warmup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routes:
    """What requests see for one model: AVAILABLE servables, the latest of them, and the labels."""

    versions: dict[int, Servable] = field(default_factory=dict)
    latest: Servable | None = None
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class _Version:
    state: State
    servable: Servable | None = None
    error: ServingError | None = None


@dataclass
class _Model:
    config: ModelConfig
    base_path: str
    versions: dict[int, _Version] = field(default_factory=dict)
    aspired: set[int] | None = None  # None until the first reconcile listed the base path
    failed: set[int] = field(default_factory=set)  # aspired versions that failed; not retried
    removed: bool = False
    generation: int = 0  # bumped by config changes and polls; reconciles record what they saw
    reconciled: int = -1
    scheduled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _failure_text(failures: list[tuple[str, int, ServingError]]) -> str:
    """load_servables_fast.cc: `N servable(s) did not become available: {{name: m version: 1} due to ...}`."""
    parts = [f"{{name: {m} version: {v}}} due to error: {e.code.name}: {e.message}" for m, v, e in failures]
    return f"{len(failures)} servable(s) did not become available: {{{', '.join(parts)}}}"


class ModelManager:
    """Loads, serves and unloads model versions; thread-safe; `resolve` is lock-free."""

    def __init__(self, settings: ServerSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._models: dict[str, _Model] = {}
        self._routes: dict[str, Routes] = {}
        self._lock = threading.Lock()  # guards _models, _routes writes and model fields
        self._changed = threading.Condition(self._lock)
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tfkit-load")
        self._poller: threading.Thread | None = None

    # -- Requests ------------------------------------------------------------------------------------

    def resolve(self, spec: ModelSpec) -> Servable:
        """The servable a request names (latest AVAILABLE, a version, or a label), upstream errors."""
        if not spec.name:
            raise InvalidArgument("ModelSpec has no name specified.")
        routes = self._routes.get(spec.name)
        if spec.label is not None:
            if routes is None or spec.label not in routes.labels:
                raise InvalidArgument(f"Unrecognized servable version label: {spec.label}")
            version = routes.labels[spec.label]
        elif spec.version is not None:
            version = spec.version
        else:
            if routes is None or routes.latest is None:
                raise NotFound(f"Servable not found for request: Latest({spec.name})")
            return routes.latest
        servable = routes.versions.get(version) if routes is not None else None
        if servable is None:
            raise NotFound(f"Servable not found for request: Specific({spec.name}, {version})")
        return servable

    def is_serving(self, servable: Servable) -> bool:
        """Whether `servable` is still one of its model's AVAILABLE versions."""
        routes = self._routes.get(servable.name)
        return routes is not None and routes.versions.get(servable.version) is servable

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Every version the model ever had (END ones kept), descending; upstream NOT_FOUND texts."""
        with self._lock:
            model = self._models.get(name)
            entries = dict(model.versions) if model is not None else {}
        if not entries:
            raise NotFound(f"Could not find any versions of model {name}")
        if version is not None:
            if version not in entries:
                raise NotFound(f"Could not find version {version} of model {name}")
            entries = {version: entries[version]}
        result = []
        for v in sorted(entries, reverse=True):
            err = entries[v].error
            if err is None:
                result.append(VersionStatus(v, entries[v].state))
            else:
                result.append(VersionStatus(v, entries[v].state, err.code, err.message))
        return result

    def configs(self) -> list[ModelConfig]:
        with self._lock:
            return [m.config for m in self._models.values() if not m.removed]

    # -- Configuration -------------------------------------------------------------------------------

    def start(self, configs: Sequence[ModelConfig]) -> None:
        """Load the initial models (blocking until each is AVAILABLE or failed), then start polling."""
        self.reload(configs)
        interval = self.settings.file_system_poll_wait_seconds
        if interval > 0 and self._poller is None:
            self._poller = threading.Thread(target=self._poll_loop, name="tfkit-poll", daemon=True)
            self._poller.start()

    def reload(self, configs: Sequence[ModelConfig]) -> None:
        """Replace the model list: new/changed models load (this blocks until their aspired versions are
        AVAILABLE or failed), removed models unload, then the version labels are applied."""
        with self._reload_lock:
            wanted = {c.name: c for c in configs}
            waiting: list[tuple[_Model, int]] = []
            with self._lock:
                for name, model in self._models.items():
                    if name not in wanted and not model.removed:
                        model.removed = True
                        self._schedule_locked(model)
                for name, config in wanted.items():
                    base = self.settings.local_path(config.base_path)
                    existing = self._models.get(name)
                    if existing is not None and not existing.removed and existing.config == config:
                        continue
                    model = existing or self._models.setdefault(name, _Model(config, base))
                    model.config, model.base_path, model.removed = config, base, False
                    model.failed.clear()
                    model.generation += 1
                    waiting.append((model, model.generation))
                    self._schedule_locked(model)
            self._wait_settled(waiting)
            failures: list[tuple[str, int, ServingError]] = []
            for m, _ in waiting:
                for v in sorted(m.aspired or ()):
                    error = m.versions[v].error if v in m.failed else None
                    if error is not None:
                        failures.append((m.config.name, v, error))
            if failures:
                raise Unknown(_failure_text(failures))
            self._apply_labels(list(wanted.values()))

    def _apply_labels(self, configs: Iterable[ModelConfig]) -> None:
        """server_core.cc UpdateModelVersionLabelMap: a (new or moved) label must name an AVAILABLE
        version, unless --allow_version_labels_for_unavailable_models and the label is new."""
        allow_new = self.settings.allow_version_labels_for_unavailable_models
        with self._lock:
            for config in configs:
                routes = self._routes.get(config.name, Routes())
                for label, version in sorted(config.version_labels.items()):
                    previous = routes.labels.get(label)
                    if previous == version or version in routes.versions:
                        continue
                    if previous is None and allow_new:
                        continue
                    raise FailedPrecondition(
                        f"Request to assign label to version {version} of model {config.name}, which is "
                        "not currently available for inference"
                    )
            for config in configs:
                routes = self._routes.get(config.name, Routes())
                self._routes[config.name] = Routes(
                    routes.versions, routes.latest, dict(config.version_labels)
                )
            for name in set(self._routes) - {c.name for c in configs}:
                routes = self._routes[name]
                self._routes[name] = Routes(routes.versions, routes.latest, {})

    def close(self) -> None:
        """Stop polling and loading; loaded servables are dropped."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._poller is not None:
            self._poller.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- Polling and reconciling ---------------------------------------------------------------------

    def _poll_loop(self) -> None:
        interval = float(self.settings.file_system_poll_wait_seconds)
        while not self._stop.wait(interval):
            with self._lock:
                for model in self._models.values():
                    if not model.removed:
                        model.generation += 1
                        self._schedule_locked(model)

    def _schedule_locked(self, model: _Model) -> None:
        if model.scheduled or self._stop.is_set():
            return
        model.scheduled = True
        self._pool.submit(self._reconcile, model)

    def _wait_settled(self, waiting: list[tuple[_Model, int]]) -> None:
        """Block until each model reconciled at least `generation` and all its aspired versions are
        AVAILABLE or failed (an empty base path keeps waiting, as upstream)."""

        def settled(model: _Model, generation: int) -> bool:
            if model.removed:
                return True
            if model.reconciled < generation or not model.aspired:
                return False
            return all(model.versions[v].state == State.AVAILABLE or v in model.failed for v in model.aspired)

        with self._changed:
            while not all(settled(m, g) for m, g in waiting):
                if self._stop.is_set():
                    raise Unknown("Server is shutting down")
                if not self._changed.wait(timeout=1.0):
                    for model, _ in waiting:  # keep polling an empty base path even without a poller
                        if not model.aspired:
                            model.generation += 1
                            self._schedule_locked(model)

    def _reconcile(self, model: _Model) -> None:
        with model.lock:
            with self._lock:
                model.scheduled = False
                generation, removed, config = model.generation, model.removed, model.config
            try:
                found = {} if removed else discover_versions(config.name, model.base_path)
                if found is None:
                    return
                aspired = aspired_versions(config.name, config.version_policy, set(found))
                with self._lock:
                    model.aspired = aspired
                    model.failed &= aspired
                loaded = {v for v, rec in model.versions.items() if rec.state == State.AVAILABLE}
                for version in sorted(aspired - loaded - model.failed, reverse=True):
                    if self._stop.is_set():
                        return
                    self._load(model, version, found[version])
                any_ready = any(model.versions[v].state == State.AVAILABLE for v in aspired)
                if any_ready or not aspired:
                    for version in sorted(loaded - aspired):
                        self._unload(model, version)
            except Exception:
                log.exception("Reconciling model %s failed", config.name)
            finally:
                with self._changed:
                    model.reconciled = max(model.reconciled, generation)
                    self._changed.notify_all()

    def _set_state(self, model: _Model, version: int, record: _Version) -> None:
        """Record a version's state and republish the model's routes (atomic swap)."""
        with self._changed:
            model.versions[version] = record
            available = {
                v: rec.servable
                for v, rec in model.versions.items()
                if rec.state == State.AVAILABLE and rec.servable is not None
            }
            latest = available[max(available)] if available else None
            labels = self._routes.get(model.config.name, Routes()).labels
            self._routes[model.config.name] = Routes(available, latest, labels)
            self._changed.notify_all()
        self.metrics.set_loaded_versions(model.config.name, len(available))

    def _load(self, model: _Model, version: int, path: str) -> None:
        name = model.config.name
        self._set_state(model, version, _Version(State.START))
        self._set_state(model, version, _Version(State.LOADING))
        attempts = 1 + max(0, self.settings.max_num_load_retries)
        error: ServingError = Unknown("not loaded")
        for attempt in range(attempts):
            started = time.monotonic()
            try:
                servable = Servable.load(name, version, path, self.settings.saved_model_tags)
                if self.settings.enable_model_warmup:
                    run_warmup(servable, self.settings.warmup_iterations, self.metrics)
            except ServingError as err:
                error = err
            except Exception as err:
                error = Unknown(f"{type(err).__name__}: {err}")
            else:
                self.metrics.observe_load(name, version, time.monotonic() - started, True, path)
                self._set_state(model, version, _Version(State.AVAILABLE, servable))
                log.info("Successfully loaded servable version {name: %s version: %d}", name, version)
                return
            self.metrics.observe_load(name, version, time.monotonic() - started, False, path)
            log.error("Loading servable: {name: %s version: %d} failed: %s", name, version, error.message)
            if attempt + 1 < attempts:
                log.info("Retrying load of {name: %s version: %d}", name, version)
                if self._stop.wait(self.settings.load_retry_interval_seconds):
                    break
        with self._lock:
            model.failed.add(version)
        self._set_state(model, version, _Version(State.END, error=error))

    def _unload(self, model: _Model, version: int) -> None:
        self._set_state(model, version, _Version(State.UNLOADING))
        self._set_state(model, version, _Version(State.END))
        log.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)
