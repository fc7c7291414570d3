"""The prepared datasets (see ``extract.py``) and their fixed splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SEED = 20261123
# Two UTKFace images closer than this (cosine distance of SFace embeddings)
# are taken to show the same person. LFW puts SFace's false-match rate at
# 0.45 below 1e-5, so unrelated adults are almost never joined. SFace was
# not trained on children, whose faces it places close together: at 0.45 the
# babies of UTKFace chain into one group of 1,852, so children need closer
# pairs (by the younger one's labelled age: up to 3 years, up to 12 years).
SAME_PERSON = ((3, 0.15), (12, 0.30), (200, 0.45))
AGE_BANDS = ((0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200))
GENDERS = ("male", "female")  # UTKFace's label order: 0 male, 1 female
RACES = ("white", "black", "asian", "indian", "other")  # UTKFace's 0..4


class Prepared:
    """One dataset as written by ``extract.py``."""

    def __init__(self, root: Path, dataset: str):
        folder = Path(root).expanduser() / dataset
        meta = json.loads((folder / "meta.json").read_text())
        self.items: list[dict] = meta["items"]
        self.trunk = np.load(folder / "trunk.npy", mmap_mode="r")
        self.crops = np.load(folder / "crops.npy", mmap_mode="r")
        colour = folder / "trunk-colour.npy"  # UTKFace only
        self.colour = np.load(colour, mmap_mode="r") if colour.is_file() else None
        self.detected = np.array([i["landmarks"] is not None for i in self.items])

    def labels(self, key: str) -> np.ndarray:
        return np.array([i[key] for i in self.items])

    def names(self) -> list[str]:
        return [Path(i["file"]).name for i in self.items]


def sface_embeddings(trunk: np.ndarray, batch: int = 2048) -> np.ndarray:
    """SFace embeddings computed from stored colour trunk maps with SFace's own last
    layers (a linear layer and a batch norm), unit length."""
    import onnx
    from onnx import numpy_helper

    from prosopo.embed.sface import model_file

    model = model_file()  # its last layers are SFace's own: only the PReLUs are rewritten
    graph = (onnx.load(str(model)) if isinstance(model, Path) else onnx.load_from_string(model)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    bn = graph.node[-1]
    w, b = weights[gemm.input[1]], weights[gemm.input[2]]
    scale, bias, mean, var = (weights[n] for n in bn.input[1:5])
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    out = []
    for start in range(0, len(trunk), batch):
        x = np.asarray(trunk[start:start + batch], np.float32).reshape(-1, w.shape[1])
        y = x @ w.T + b
        y = (y - mean) / np.sqrt(var + eps) * scale + bias
        out.append(y / np.linalg.norm(y, axis=1, keepdims=True))
    return np.concatenate(out)


def same_person_groups(emb: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Connected components of the "same person" graph: one group id per row."""
    parent = np.arange(len(emb))
    limit = np.array([next(t for upto, t in SAME_PERSON if a <= upto) for a in age])

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, len(emb), 1024):
        dist = 1 - emb[start:start + 1024] @ emb.T
        rows, cols = np.nonzero(dist < np.minimum(limit[start:start + 1024, None], limit[None, :]))
        for r, c in zip(rows + start, cols):
            if r < c:
                a, b = find(r), find(c)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(len(emb))])


def utk_split(data: Prepared, reserved: set[str] = frozenset(), fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """``train``/``val``/``test`` per image, subject-independent: every
    image of one same-person group lands in the same part. Groups holding a
    ``reserved`` file name (the CI subset ``utk-mini``) all go to test, so
    the tests run on images no model was trained on."""
    groups = same_person_groups(sface_embeddings(data.colour), data.labels("age"))
    names = data.names()
    forced = {g for g, n in zip(groups, names) if n in reserved}
    unique = np.unique(groups)
    rng = np.random.default_rng(SEED)
    draw = dict(zip(unique, rng.random(len(unique))))
    split = []
    for g in groups:
        if g in forced:
            split.append("test")
        elif draw[g] < fractions[0]:
            split.append("train")
        elif draw[g] < fractions[0] + fractions[1]:
            split.append("val")
        else:
            split.append("test")
    return np.array(split)


def fer_split(data: Prepared) -> np.ndarray:
    """FER2013's own: Training, PublicTest for validation, PrivateTest."""
    return np.array([{"Training": "train", "PublicTest": "val", "PrivateTest": "test"}[i["split"]]
                     for i in data.items])


def age_band(age: int) -> str:
    for lo, hi in AGE_BANDS:
        if lo <= age <= hi:
            return f"{lo}-{hi}" if hi < 200 else f"{lo}+"
    raise ValueError(age)
