"""ONNX Runtime sessions, created the same way for every backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ModelError


def _configured_threads() -> int:
    """``$PROSOPO_THREADS``, 0 when unset (ONNX Runtime's own choice)."""
    return int(os.environ.get("PROSOPO_THREADS", "0") or 0)


def session(model: Path | bytes, threads: int | None = None):
    """A CPU inference session. ``threads`` defaults to ``$PROSOPO_THREADS``,
    else ONNX Runtime's own choice (all cores).

    Idle pool threads do not spin unless ``$PROSOPO_SPIN=1``. Measured on 2
    cores: spinning saves about 1 ms of a 23 ms ``represent`` call on an idle
    machine, but costs 27% of ``represent_many`` throughput with two workers
    and doubles latency when another process holds a core.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    spin = os.environ.get("PROSOPO_SPIN", "0").strip() in ("1", "true", "yes")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    threads = threads or _configured_threads()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ModelError(f"ONNX Runtime could not load the model {model if isinstance(model, Path) else ''}: {exc}") from exc


_local = threading.local()


def _cores() -> int:
    """The threads a session gets by default: ``$PROSOPO_THREADS``, else
    the cores."""
    return _configured_threads() or os.cpu_count() or 1


@contextmanager
def side_by_side(callers: int) -> Iterator[None]:
    """Within this block, this thread's inferences through a
    :class:`Sessions` take their share of the cores, ``callers`` threads
    running inferences at once. Two threads detecting 640x360 frames side
    by side on 2 cores used 6% less CPU a frame with one thread each than
    sharing a two-thread session (whose second thread then fights the other
    caller for its core)."""
    before = getattr(_local, "callers", 1)
    _local.callers = max(1, int(callers))
    try:
        yield
    finally:
        _local.callers = before


class Sessions:
    """A model's inference session, shared by every thread (as many threads
    as :func:`session` gives it), and, made on first use, sessions of fewer
    threads for the callers inside :func:`side_by_side`. All are safe to run
    from several threads at once."""

    def __init__(self, model: Path | bytes, threads: int | None = None):
        self._model = model
        self._shared = session(model, threads)
        self._fewer: dict[int, Any] = {}  # by thread count
        self._lock = threading.Lock()

    def get_inputs(self) -> Any:
        return self._shared.get_inputs()

    def run(self, outputs: Any, feeds: dict[str, Any]) -> Any:
        callers = getattr(_local, "callers", 1)
        if callers == 1:
            return self._shared.run(outputs, feeds)
        threads = max(1, _cores() // callers)
        fewer = self._fewer.get(threads)
        if fewer is None:  # made once, on first use
            with self._lock:
                fewer = self._fewer.get(threads) or self._fewer.setdefault(threads, session(self._model, threads))
        return fewer.run(outputs, feeds)
