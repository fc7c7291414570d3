"""dlib's face recognition ResNet, read from its ``.dat`` file and written as
an ONNX model, so that ONNX Runtime runs it.

dlib (the ``dlib-bin`` wheel, built without BLAS) took 165 ms a face here
and held Python's GIL throughout; the same network on ONNX Runtime computes
the same descriptors (within 3e-7, tested) in 5 to 12 ms a face and on
both cores.

The file is dlib's own serialization of ``anet_type`` from
``dnn_face_recognition_ex.cpp``: nested layer wrappers, each layer's details
named by a version string (``con_4``, ``affine_``, ``relu_``, ...) and its
parameters as tensors (a version, four packed sizes, then little-endian
float32). The layers are written input first, so reading the named details
in file order walks the network forward. The tag and skip wrappers that wire
the residual shortcuts carry no names; the shortcuts follow from the
structure, which this reader checks as it goes:

    block  = con, affine, relu, con, affine, [avg_pool], add_prev, relu

where the shortcut is the block's input, average-pooled in the blocks that
halve the size (which are also the ones that double the channels; dlib adds
tensors of different shapes by padding the smaller with zeros). Batch
normalization was already folded into the ``affine`` layers by dlib; here
each affine is folded further into the convolution before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

# dlib's input_rgb_image_sized: (pixel - mean) / 256, channel means in RGB
MEAN_RGB = (122.782, 117.001, 104.298)
SIZE = 150

_NAMES = (b"input_rgb_image_sized", b"con_4", b"affine_", b"relu_", b"max_pool_2", b"avg_pool_2", b"add_prev_",
          b"fc_2")
_NAMED = re.compile(b"\x01([\x04-\x15])(" + b"|".join(_NAMES) + b")")


class _Reader:
    """dlib's serialization primitives from a position in the file."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size, negative = head & 0x0F, head & 0x80
        if size > 8:
            raise ModelError("dlib model file: a malformed integer")
        value = int.from_bytes(self.data[self.pos + 1: self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise ModelError("dlib model file: unexpected tensor version")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos)
        self.pos += 4 * count
        return values.astype(np.float32).reshape(shape)


@dataclass
class _Layer:
    kind: str
    params: np.ndarray | None = None
    ints: tuple[int, ...] = ()

    def weights(self) -> np.ndarray:
        """The layer's parameters, flat (``ModelError`` if it has none)."""
        if self.params is None:
            raise ModelError(f"dlib model file: a {self.kind} layer without parameters")
        return self.params.ravel()


def read_layers(data: bytes) -> list[_Layer]:
    """The named layers of a dlib network file, input first."""
    layers = []
    for match in _NAMED.finditer(data):
        name = match.group(2)
        if match.group(1)[0] != len(name):
            continue
        r = _Reader(data, match.end())
        kind = name.decode()
        if kind == "con_4":  # params, num_filters, nr, nc, stride y, x, padding y, x
            params = r.tensor()
            layers.append(_Layer("con", params, tuple(r.int() for _ in range(7))))
        elif kind == "affine_":  # params = gamma then beta
            layers.append(_Layer("affine", r.tensor()))
        elif kind in ("max_pool_2", "avg_pool_2"):  # nr, nc, stride y, x, padding y, x
            layers.append(_Layer(kind[:-2], None, tuple(r.int() for _ in range(6))))
        elif kind == "fc_2":  # num_outputs, num_inputs, params (weights: inputs x outputs)
            outputs, inputs = r.int(), r.int()
            layers.append(_Layer("fc", r.tensor(), (outputs, inputs)))
        else:
            layers.append(_Layer(kind.rstrip("_")))
    return layers


class _Graph:
    """ONNX nodes and initializers, with the static shape of every value."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []  # onnx NodeProto
        self.weights: list[Any] = []  # onnx TensorProto
        self.shapes: dict[str, tuple[int, int, int]] = {}  # channels, height, width
        self.count = 0

    def const(self, array: np.ndarray) -> str:
        name = f"w{len(self.weights)}"
        self.weights.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs) -> str:
        self.count += 1
        out = f"{op.lower()}{self.count}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out

    def pad_to(self, x: str, shape: tuple[int, int, int]) -> str:
        """``x`` zero-padded (channels, bottom, right) to ``shape``."""
        c, h, w = self.shapes[x]
        if (c, h, w) == shape:
            return x
        pads = np.array([0, 0, 0, 0, 0, shape[0] - c, shape[1] - h, shape[2] - w], np.int64)
        return self.node("Pad", [x, self.const(pads)], shape)


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def build(layers: list[_Layer]) -> bytes:
    """The ONNX model (input ``chips``: N x 150 x 150 x 3 RGB uint8 as
    float32; output ``descriptors``: N x 128) of the layers read above."""
    import onnx

    kinds = [layer.kind for layer in layers]
    if not kinds or kinds[0] != "input_rgb_image_sized" or kinds[-2:] != ["avg_pool", "fc"]:
        raise ModelError("dlib model file: not the face recognition ResNet this reader knows")
    g = _Graph()
    # NHWC uint8-valued input -> NCHW, then dlib's normalization
    x = g.node("Transpose", ["chips"], (3, SIZE, SIZE), perm=[0, 3, 1, 2])
    mean = np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", [x, g.const(mean)], (3, SIZE, SIZE))
    x = g.node("Mul", [x, g.const(np.array(1 / 256, np.float32))], (3, SIZE, SIZE))
    block_input, shortcut, i = None, None, 1
    while i < len(layers) - 2:
        layer = layers[i]
        if layer.kind == "con":
            if block_input is None:
                block_input = x
            filters, rows, cols, sy, sx, py, px = layer.ints
            c, h, wd = g.shapes[x]
            w = layer.weights()
            weight = w[: filters * c * rows * cols].reshape(filters, c, rows, cols)
            bias = w[filters * c * rows * cols:]
            if bias.size != filters or i + 1 >= len(layers) or layers[i + 1].kind != "affine":
                raise ModelError("dlib model file: a convolution without its affine layer")
            ab = layers[i + 1].weights()
            gamma, beta = ab[:filters], ab[filters:]
            weight = weight * gamma.reshape(-1, 1, 1, 1)
            bias = bias * gamma + beta
            shape = (filters, _out(h, rows, sy, py), _out(wd, cols, sx, px))
            x = g.node("Conv", [x, g.const(weight.astype(np.float32)), g.const(bias.astype(np.float32))], shape,
                       kernel_shape=[rows, cols], strides=[sy, sx], pads=[py, px, py, px])
            i += 2
            continue
        if layer.kind == "relu":
            x = g.node("Relu", [x], g.shapes[x])
            if layers[i - 1].kind == "add_prev":  # the end of a residual block
                block_input, shortcut = None, None
        elif layer.kind in ("max_pool", "avg_pool"):
            rows, cols, sy, sx, py, px = layer.ints
            op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
            if layer.kind == "avg_pool":  # inside a block: the shortcut, pooled
                if block_input is None:
                    raise ModelError("dlib model file: an average pool outside a residual block")
                src = block_input
            else:
                src = x
            c, h, wd = g.shapes[src]
            out = g.node(op, [src], (c, _out(h, rows, sy, py), _out(wd, cols, sx, px)),
                         kernel_shape=[rows, cols], strides=[sy, sx], pads=[py, px, py, px])
            if layer.kind == "avg_pool":
                shortcut = out
            else:  # the stem's pool: the first block starts after it
                x, block_input = out, None
        elif layer.kind == "add_prev":
            if block_input is None:
                raise ModelError("dlib model file: a shortcut with no block")
            other = shortcut if shortcut is not None else block_input
            (c1, h1, w1), (c2, h2, w2) = g.shapes[x], g.shapes[other]
            shape = (max(c1, c2), max(h1, h2), max(w1, w2))
            x = g.node("Add", [g.pad_to(x, shape), g.pad_to(other, shape)], shape)
        else:
            raise ModelError(f"dlib model file: unexpected layer {layer.kind}")
        i += 1
    c = g.shapes[x][0]
    x = g.node("GlobalAveragePool", [x], (c, 1, 1))
    x = g.node("Flatten", [x], (c, 1, 1), axis=1)
    fc = layers[-1]
    outputs, inputs = fc.ints
    if inputs != c:
        raise ModelError("dlib model file: the final layer does not fit the network")
    weights = fc.weights()[: inputs * outputs].reshape(inputs, outputs)
    g.nodes.append(g.helper.make_node("MatMul", [x, g.const(weights)], ["descriptors"], name="fc"))
    make = g.helper
    graph = make.make_graph(g.nodes, "dlib_face_recognition_resnet_model_v1",
                            [make.make_tensor_value_info("chips", onnx.TensorProto.FLOAT, ["batch", SIZE, SIZE, 3])],
                            [make.make_tensor_value_info("descriptors", onnx.TensorProto.FLOAT, ["batch", outputs])],
                            g.weights)
    model = make.make_model(graph, opset_imports=[make.make_opsetid("", 17)], producer_name="prosopo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def convert(path: Path) -> bytes:
    """The ONNX model of the dlib network file at ``path``."""
    try:
        return build(read_layers(Path(path).read_bytes()))
    except (ValueError, IndexError) as exc:  # a truncated or damaged file
        raise ModelError(f"dlib model file {path} is damaged: {exc}") from exc
