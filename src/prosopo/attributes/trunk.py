"""SFace's trunk: the recognizer cut before its embedding layer.

Its last feature map (``bn1``, 1024 x 7 x 7 for a 112x112 aligned crop)
describes far more than identity: age, gender, expression. prosopo's
attribute heads are small networks trained on that map, so the attributes
of a face cost one trunk pass plus a few small matrix products.
"""

from __future__ import annotations

import numpy as np

from ..align import ARCFACE_112
from ..embed import sface_source
from ..embed.sface import dequantize
from ..models import derived_file
from ..runtime import prelu
from ..runtime.onnx_session import session

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
        model = derived_file(sface_source(), ".fast-trunk.onnx",
                             lambda p: prelu.rewrite(truncate(dequantize(p))),
                             code=(prelu.rewrite, truncate, dequantize))
        self._session = session(model, threads)
        self._input = self._session.get_inputs()[0].name

    def features(self, crops: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """float32 (n, 1024, 7, 7) feature maps."""
        if len(crops) == 0:
            return np.zeros((0, *SHAPE), np.float32)
        batch = np.asarray(np.stack(crops) if isinstance(crops, list) else crops, np.float32)
        return self._session.run(None, {self._input: np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})[0]
