"""SFace's trunk: the recognizer cut before its embedding layer.

Its last feature map (``bn1``, 1024 x 7 x 7 for a 112x112 aligned crop)
describes far more than identity: age, gender, expression. prosopo's
attribute heads are small networks trained on that map, so the attributes
of a face cost one trunk pass per view of it (grey, or colour for race)
plus a few small matrix products.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..align import ARCFACE_112
from ..embed import SFACE_FILE, prelu
from ..embed.onnx_session import session, thread_count
from ..embed.sface import dequantize
from ..models import derived_file, package_file

OUTPUT = "bn1"
SHAPE = (1024, 7, 7)


def truncate(model_bytes: bytes) -> bytes:
    """The model with every node after ``bn1`` removed and ``bn1`` as output."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    keep = []
    for node in graph.node:
        keep.append(node)
        if OUTPUT in node.output:
            break
    else:
        raise ValueError(f"SFace has no node producing {OUTPUT!r}")
    used = {n for node in keep for n in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", *SHAPE]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


class Trunk:
    """Runs the trunk on aligned 112x112 RGB uint8 crops."""

    template = ARCFACE_112

    def __init__(self, threads: int | None = None) -> None:
        self._model = derived_file(package_file(*SFACE_FILE), ".fast-trunk.onnx",
                                   lambda p: prelu.rewrite(truncate(dequantize(p))))
        self._threads = thread_count(threads) or os.cpu_count() or 1
        self._session = session(self._model, threads)
        self._input = self._session.get_inputs()[0].name
        self._pair: list | None = None
        self._lock = threading.Lock()

    def features(self, crops: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """float32 (n, 1024, 7, 7) feature maps."""
        return self._run(self._session, crops)

    def runners(self, views: int) -> tuple[list, bool]:
        """One function (crops -> maps) per view of the same faces, and
        whether to call them side by side. With two views and two or more
        threads allowed, each is a one-thread session of its own: measured
        here 13 ms for one face in each view, against 17.5 ms for the two as
        one batch on both cores. Otherwise every view shares the main
        session, one after the other."""
        if views != 2 or self._threads < 2:
            return [self.features] * views, False
        with self._lock:
            if self._pair is None:
                self._pair = [session(self._model, 1), session(self._model, 1)]
        return [lambda crops, s=s: self._run(s, crops) for s in self._pair], True

    def _run(self, sess, crops) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, *SHAPE), np.float32)
        batch = np.asarray(np.stack(crops) if isinstance(crops, list) else crops, np.float32)
        return sess.run(None, {self._input: np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})[0]
