"""ONNX Runtime sessions, created the same way for every backend."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError


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
    threads = threads or int(os.environ.get("PROSOPO_THREADS", "0") or 0)
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ModelError(f"ONNX Runtime could not load the model {model if isinstance(model, Path) else ''}: {exc}") from exc
