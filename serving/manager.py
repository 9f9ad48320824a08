"""Model lifecycle: discovery by polling, version policies, labels, availability-preserving transitions.

One `ModelManager` owns every configured model. A poller thread lists each base path every
`--file_system_poll_wait_seconds` and schedules a reconcile per model on a worker pool; a reconcile
loads (and warms up) every new aspired version *before* unloading the versions that are no longer
aspired, and only unloads them once an aspired version is AVAILABLE, so a version that fails to load
(END with its error, after `--max_num_load_retries`) never replaces a serving one (upstream
AvailabilityPreservingPolicy). Requests read an immutable per-model routing table that is swapped
atomically, so in-flight requests on an unloaded version finish on the servable they hold.

`reload` is ServerCore::ReloadConfig (model_servers/server_core.cc): the version labels are validated
against the versions AVAILABLE *before* the new config's models are added (UpdateModelVersionLabelMap),
then the models are added/removed and the call waits, as ConnectSourcesWithFastInitialLoad /
WaitUntilModelsAvailable do, only until each awaited model's first version settles (AVAILABLE or END):
every model of the first config, only the newly named models on a reload. Loads run on a pool of
4 x CPUs threads during the first config (num_initial_load_threads), then `--num_load_threads` (0 = one
at a time); unloads on `--num_unload_threads`.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from serving import events
from serving.config import TENSORFLOW_PLATFORM
from serving.lifecycle import Slots, check_platforms, failure_text, version_labels
from serving.metrics import Metrics
from serving.options import load_options
from serving.servable import Servable
from serving.settings import ServerSettings
from serving.status import Internal, InvalidArgument, NotFound, ServingError, Unknown
from serving.types import ModelConfig, ModelSpec, State, VersionStatus
from serving.versions import aspired_versions, discover_versions
from serving.warmup import run_warmup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routes:
    """What requests see for one model: its AVAILABLE servables and the latest of them."""

    versions: dict[int, Servable] = field(default_factory=dict)
    latest: Servable | None = None


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
    scheduled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # AVAILABLE / END transitions in order, as (version, state and error): never the servable, which would
    # then outlive its unload.
    settled: list[tuple[int, _Version]] = field(default_factory=list)


LOAD_INTERNAL_TEXT = "Internal error while loading the model; see the server log"


class ModelManager:
    """Loads, serves and unloads model versions; thread-safe; `resolve` is lock-free."""

    def __init__(self, settings: ServerSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._models: dict[str, _Model] = {}
        self._routes: dict[str, Routes] = {}
        self._labels: dict[str, dict[str, int]] = {}  # swapped whole (server_core.cc label map)
        self._lock = threading.Lock()  # guards _models, _routes writes and model fields
        self._changed = threading.Condition(self._lock)
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        initial_threads = 4 * (os.cpu_count() or 1)  # ServerCore num_initial_load_threads
        self._load_slots = Slots(initial_threads)
        self._unload_slots = Slots(settings.num_unload_threads)
        self._pool = ThreadPoolExecutor(max_workers=initial_threads, thread_name_prefix="tfkit-load")
        self._poller: threading.Thread | None = None
        self._configured = False
        self._load_options = load_options(settings)

    # -- Requests ------------------------------------------------------------------------------------

    def resolve(self, spec: ModelSpec) -> Servable:
        """The servable a request names (latest AVAILABLE, a version, or a label), upstream errors."""
        if not spec.name:
            raise InvalidArgument("ModelSpec has no name specified.")
        routes = self._routes.get(spec.name)
        if spec.label is not None:
            version_for_label = self._labels.get(spec.name, {}).get(spec.label)
            if version_for_label is None:
                raise InvalidArgument(f"Unrecognized servable version label: {spec.label}")
            version = version_for_label
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
        """Apply the first config (blocking as upstream), then poll base paths and load on
        `--num_load_threads`."""
        self.reload(configs)
        self._load_slots.resize(self.settings.num_load_threads)
        interval = self.settings.file_system_poll_wait_seconds
        if interval > 0 and self._poller is None:
            self._poller = threading.Thread(target=self._poll_loop, name="tfkit-poll", daemon=True)
            self._poller.start()

    def reload(self, configs: Sequence[ModelConfig]) -> None:
        """ServerCore::ReloadConfig for a model list: labels first (against what is AVAILABLE now), then
        the platform check, then add/remove models; waits for the first version of every model of the
        first config, or of each newly named model on later reloads (raises Unknown when one fails)."""
        with self._reload_lock:
            self._check_platforms(configs)
            self._update_labels(configs)
            for config in configs:
                if config.platform != TENSORFLOW_PLATFORM:
                    raise InvalidArgument(
                        f"Model {config.name} requests unsupported platform {config.platform}"
                    )
            events.config_reload(sorted(c.name for c in configs))
            first, self._configured = not self._configured, True
            awaited: list[tuple[_Model, int]] = []
            with self._lock:
                wanted = {c.name: c for c in configs}
                for name, model in self._models.items():
                    if name not in wanted and not model.removed:
                        model.removed = True
                        self._schedule_locked(model)
                for name, config in wanted.items():
                    existing = self._models.get(name)
                    is_new = existing is None or existing.removed
                    if existing is not None and not is_new and existing.config == config:
                        continue
                    base = self.settings.local_path(config.base_path)
                    model = existing or self._models.setdefault(name, _Model(config, base))
                    changed = is_new or (model.base_path, model.config.version_policy) != (
                        base,
                        config.version_policy,
                    )
                    model.config, model.base_path, model.removed = config, base, False
                    if is_new:
                        model.failed.clear()  # a re-added model loads its versions afresh
                    if first or is_new:
                        awaited.append((model, len(model.settled)))
                    if changed:
                        self._schedule_locked(model)
            self._wait_first_settled(awaited, "servable" if first else "model")

    def _check_platforms(self, configs: Sequence[ModelConfig]) -> None:
        with self._lock:
            current = {n: m.config.platform for n, m in self._models.items() if not m.removed}
        check_platforms(current, configs)

    def _update_labels(self, configs: Sequence[ModelConfig]) -> None:
        with self._lock:
            available = {name: set(routes.versions) for name, routes in self._routes.items()}
            allow = self.settings.allow_version_labels_for_unavailable_models
            self._labels = version_labels(configs, available, self._labels, allow)

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
                        self._schedule_locked(model)

    def _schedule_locked(self, model: _Model) -> None:
        if model.scheduled or self._stop.is_set():
            return
        model.scheduled = True
        self._pool.submit(self._reconcile, model)

    def _wait_first_settled(self, awaited: list[tuple[_Model, int]], what: str) -> None:
        """Block until each awaited model has a version that became AVAILABLE or END since `mark`
        (ServableRequest::Latest in ServableStateMonitor); fail with upstream's text when the first such
        version of a model is END. An empty base path keeps the wait going, as upstream."""

        def first(model: _Model, mark: int) -> tuple[int, _Version] | None:
            return model.settled[mark] if len(model.settled) > mark else None

        with self._changed:
            while not all(first(m, mark) is not None or m.removed for m, mark in awaited):
                if self._stop.is_set():
                    raise Unknown("Server is shutting down")
                if not self._changed.wait(timeout=1.0) and self.settings.file_system_poll_wait_seconds > 0:
                    for model, _ in awaited:  # the poller starts only after the first config
                        if not model.aspired:
                            self._schedule_locked(model)
            failures: list[tuple[str, int, ServingError | None]] = []
            for model, mark in awaited:
                reached = first(model, mark)
                if reached is not None and reached[1].state != State.AVAILABLE:
                    failures.append((model.config.name, reached[0], reached[1].error))
        if failures:
            raise Unknown(failure_text(failures, what))

    def _reconcile(self, model: _Model) -> None:
        with model.lock:
            with self._lock:
                model.scheduled = False
                removed, config = model.removed, model.config
            try:
                # A negative --file_system_poll_wait_seconds disables polling entirely (upstream: the
                # server then waits for versions forever).
                never = self.settings.file_system_poll_wait_seconds < 0
                found = {} if removed or never else discover_versions(config.name, model.base_path)
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
                    with self._load_slots.hold():
                        self._load(model, version, found[version])
                any_ready = any(model.versions[v].state == State.AVAILABLE for v in aspired)
                if any_ready or not aspired:
                    for version in sorted(loaded - aspired):
                        with self._unload_slots.hold():
                            self._unload(model, version)
            except Exception:
                log.exception("Reconciling model %s failed", config.name)
            finally:
                with self._changed:
                    self._changed.notify_all()

    def _set_state(self, model: _Model, version: int, record: _Version) -> None:
        """Record a version's state and republish the model's routes (atomic swap)."""
        with self._changed:
            model.versions[version] = record
            if record.state in (State.AVAILABLE, State.END):
                model.settled.append((version, _Version(record.state, error=record.error)))
            available = {
                v: rec.servable
                for v, rec in model.versions.items()
                if rec.state == State.AVAILABLE and rec.servable is not None
            }
            latest = available[max(available)] if available else None
            self._routes[model.config.name] = Routes(available, latest)
            # Logged before waiters wake, so the log shows each state before anything that follows from it.
            events.version_state(model.config.name, version, record.state, record.error)
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
                servable = Servable.load(
                    name, version, path, self.settings.saved_model_tags, options=self._load_options
                )
                if self.settings.enable_model_warmup:
                    run_warmup(servable, self.settings.warmup_iterations, self.metrics)
            except ServingError as err:
                error = err
            except Exception:  # a bug, not a model error: no Python text in the status API
                log.exception("Unexpected error loading {name: %s version: %d}", name, version)
                error = Internal(LOAD_INTERNAL_TEXT)
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
        _free_unloaded()
        log.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)


def _free_unloaded() -> None:
    """Free an unloaded version now, as upstream's harness Unload() deletes the bundle
    (core/basic_manager.cc BasicManager::ExecuteUnload). TensorFlow's graph keeps the stack frames that
    built it, so a version's session sits in reference cycles that only the garbage collector frees, and a
    quiet server may not run a full collection for a long time (each replaced version stayed in memory).
    In a server the module heap is frozen (serving.server), and this collection takes 1-2 ms; a process
    that froze nothing (in-process use) leaves it to the collector rather than pause for a full pass
    over TensorFlow's objects. Requests still running on the version keep it until they finish."""
    if gc.get_freeze_count():
        gc.collect()
