"""The LFW verification protocol (Huang et al., 2007), "unrestricted,
labeled outside data": 10-fold cross validation over the official
``pairs.txt``. For each fold the threshold that maximises accuracy on the
other nine folds is applied to it; the mean and standard deviation over the
ten folds are reported, as in the literature.

In each LFW image the subject is the face nearest the image centre (the
images were cropped around it), so that face is the one embedded. Images in
which the detector finds nothing are embedded whole and counted.

Detections and embeddings are cached under ``cache`` (one file per detector,
one per detector x model x options), so a second model or metric needs no
re-detection and a second metric no re-embedding.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import image as imagelib
from .defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from .embed import RECOGNIZERS
from .errors import DataError, ImageError, ParameterError
from .metrics import DEFAULT_METRIC, check_metric, from_cosine, normalize
from .pipeline import embed_faces, find_faces, whole_image
from .thresholds import resolve
from .types import Box, Face


@dataclass(frozen=True)
class Pair:
    left: str  # image path relative to the images folder
    right: str
    same: bool
    fold: int


def read_identification(folder: str | Path) -> dict[str, list[Path]]:
    """A 1:N set: ``identification.txt`` in ``folder`` lists ``name number``
    per line (``#`` starts a comment); returns each name's photo paths,
    ``folder/images/<name>/<name>_NNNN.jpg``, in the file's order."""
    folder = Path(folder)
    try:
        text = (folder / "identification.txt").read_text()
    except OSError as exc:
        raise DataError(f"cannot read {folder / 'identification.txt'}: {exc.strerror or exc}") from exc
    people: dict[str, list[Path]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            name, number = parts
            people.setdefault(name, []).append(folder / "images" / name / f"{name}_{int(number):04d}.jpg")
    return people


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse an official LFW ``pairs.txt`` (header ``folds n``, then per fold
    ``n`` same pairs ``name i j`` and ``n`` different pairs ``name i name j``)."""
    try:
        lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise DataError(f"cannot read pairs file {path}: {exc.strerror or exc}") from exc
    try:
        folds, n = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise DataError(f"{path}: the first line must be '<folds> <pairs per half-fold>', e.g. '10 300'") from None
    if len(lines) - 1 != folds * 2 * n:
        raise DataError(f"{path}: header says {folds} folds x {2 * n} pairs but the file has {len(lines) - 1} pairs")

    def img(name: str, number: str) -> str:
        return f"{name}/{name}_{int(number):04d}.jpg"

    pairs = []
    for k, row in enumerate(lines[1:]):
        try:
            if len(row) == 3:
                pairs.append(Pair(img(row[0], row[1]), img(row[0], row[2]), True, k // (2 * n)))
            elif len(row) == 4:
                pairs.append(Pair(img(row[0], row[1]), img(row[2], row[3]), False, k // (2 * n)))
            else:
                raise ValueError
        except ValueError:
            raise DataError(f"{path}: line {k + 2} is not a pair: {' '.join(row)!r}") from None
    return pairs


@dataclass
class Embeddings:
    """Embeddings of LFW images, and how many had no detected face."""

    vectors: dict[str, np.ndarray]
    undetected: list[str] = field(default_factory=list)


def _central(faces: list[Face], shape: tuple[int, ...]) -> Face | None:
    if not faces:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(faces, key=lambda f: (f.box.center[0] - cx) ** 2 + (f.box.center[1] - cy) ** 2)


def _face_to_json(face: Face | None):
    return None if face is None else {"box": asdict(face.box), "score": face.score, "landmarks": face.landmarks}


def _face_from_json(data) -> Face | None:
    if data is None:
        return None
    marks = tuple(tuple(p) for p in data["landmarks"]) if data["landmarks"] else None
    return Face(Box(**data["box"]), data["score"], marks)


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` to a temporary file beside ``path``, then moved onto it; a
    cache that cannot be written is a ParameterError naming it."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ParameterError(f"cannot write the cache file {path}: {exc.strerror or exc} "
                             "(choose another cache folder)") from exc


def _parts(model: str) -> tuple[str, ...]:
    """The recognizers a fused model is built from (empty for a plain one)."""
    return getattr(RECOGNIZERS.backend_class(model), "parts", ())


def progress_steps(model: str, count: int) -> int:
    """How many progress ticks :func:`embed_images` gives for ``count`` images."""
    return count * max(1, len(_parts(model)))


def _save_npz(path: Path, vectors: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a path
        np.savez(f, **vectors)  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle


def embed_images(
    images_dir: str | Path,
    names: Iterable[str],
    *,
    model: str = DEFAULT_MODEL,
    detector: str = DEFAULT_DETECTOR,
    align: bool = True,
    flip: bool = False,
    cache: str | Path | None = None,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> Embeddings:
    """Embed the central face of each image (relative paths in ``names``).

    A fused model is computed from its parts' embeddings (each cached), so
    evaluating it after its parts costs nothing.
    """
    model = RECOGNIZERS.entry(model).name
    if parts := _parts(model):
        done = [embed_images(images_dir, names, model=m, detector=detector, align=align, flip=flip, cache=cache,
                             workers=workers, progress=progress) for m in parts]
        from .embed.fused import Fused

        fused_class = RECOGNIZERS.backend_class(model)
        assert issubclass(fused_class, Fused), model  # only fused models have parts
        fused = {n: fused_class.combine(*(e.vectors[n] for e in done)) for n in done[0].vectors}
        return Embeddings(fused, done[0].undetected)
    root = Path(images_dir)
    if not root.is_dir():
        raise DataError(f"LFW images folder not found: {root}")
    names = sorted(set(names))
    cache_dir = Path(cache) if cache else None
    if cache_dir:  # refused now rather than after the work
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"cannot create the cache folder {cache_dir}: {exc.strerror or exc}") from exc
    det_file = cache_dir / f"faces-{detector}.json" if cache_dir else None
    emb_file = cache_dir / f"emb-{detector}-{model}-{'a' if align else 'n'}{'-flip' if flip else ''}.npz" if cache_dir else None
    faces: dict[str, object] = json.loads(det_file.read_text()) if det_file and det_file.is_file() else {}
    vectors: dict[str, np.ndarray] = {}
    if emb_file and emb_file.is_file():
        with np.load(emb_file) as data:
            vectors = {k: data[k] for k in data.files}
    todo = [n for n in names if n not in vectors]
    if progress:
        progress(len(names) - len(todo))

    def work(name: str):
        try:
            rgb = imagelib.load(root / name)
        except ImageError as exc:
            raise DataError(f"cannot read LFW image {name}: {exc}") from exc
        if name in faces:
            face = _face_from_json(faces[name])
        else:  # cached with landmarks, whatever ``align`` is, so any later run can reuse it
            face = _central(find_faces(rgb, detector, landmarks=True), rgb.shape)
        vec = embed_faces(rgb, [face or whole_image(rgb)], model, align=align, flip=flip)[0]
        return name, face, vec

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for name, face, vec in pool.map(work, todo):
            faces[name] = _face_to_json(face)
            vectors[name] = vec
            if progress:
                progress(1)
    undetected = [n for n in names if faces.get(n, True) is None]
    if det_file and emb_file and todo:
        _atomic_write(det_file, lambda p: p.write_text(json.dumps(faces)))
        _atomic_write(emb_file, lambda p: _save_npz(p, vectors))
    return Embeddings({n: vectors[n] for n in names}, undetected)


def pair_distances(pairs: list[Pair], emb: Embeddings, metric: str = DEFAULT_METRIC) -> np.ndarray:
    """The distance of each pair, in ``metric``."""
    a = np.stack([emb.vectors[p.left] for p in pairs]).astype(np.float64)
    b = np.stack([emb.vectors[p.right] for p in pairs]).astype(np.float64)
    if check_metric(metric) == "euclidean":
        return np.linalg.norm(a - b, axis=1)
    cos = np.einsum("ij,ij->i", normalize(a, np.float64), normalize(b, np.float64))
    return from_cosine(1.0 - np.clip(cos, -1.0, 1.0), metric)


def best_threshold(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold (accept when distance <= it) maximising accuracy, and that accuracy."""
    order = np.argsort(dist, kind="stable")
    d, s = dist[order], same[order]
    # accepting the first k pairs: correct = same among them + different after them
    correct = np.concatenate([[0], np.cumsum(s)]) + np.concatenate([[(~s).sum()], (~s).sum() - np.cumsum(~s)])
    # only cut between distinct distances
    valid = np.concatenate([[True], d[1:] != d[:-1], [True]])
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        thr = d[0] - 1e-9
    elif k == len(d):
        thr = d[-1]
    else:
        thr = (d[k - 1] + d[k]) / 2
    return float(thr), float(correct[k] / len(d))


@dataclass(frozen=True)
class Result:
    model: str
    detector: str
    metric: str
    accuracy: float  # mean over folds
    std: float
    fold_accuracies: tuple[float, ...]
    thresholds: tuple[float, ...]
    tar_at_far: dict[str, float]
    auc: float
    pairs: int
    undetected: int
    protocol: str = "10-fold"

    def to_dict(self) -> dict:
        return asdict(self)


def roc(dist: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False-accept and true-accept rates over every threshold."""
    order = np.argsort(dist, kind="stable")
    s = same[order]
    tar = np.concatenate([[0.0], np.cumsum(s) / max(s.sum(), 1)])
    far = np.concatenate([[0.0], np.cumsum(~s) / max((~s).sum(), 1)])
    return far, tar


def tar_at(dist: np.ndarray, same: np.ndarray, far_target: float) -> float:
    """True-accept rate at the largest threshold whose false-accept rate <= target."""
    far, tar = roc(dist, same)
    ok = far <= far_target + 1e-12
    return float(tar[ok].max())


def kfold(dist: np.ndarray, pairs: list[Pair], *, model: str, detector: str, metric: str,
          undetected: int = 0) -> Result:
    """Cross-validated accuracy. With a single fold (a subset such as
    lfw-mini) there is nothing to choose a threshold on, so the model's
    calibrated default threshold is applied (or, for a model without one,
    the best threshold on the fold itself, which is optimistic); the
    ``protocol`` field says which."""
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accs, thrs = [], []
    fold_ids = np.unique(folds)
    protocol = f"{len(fold_ids)}-fold cross validation"
    for k in fold_ids:
        if len(fold_ids) > 1:
            thr, _ = best_threshold(dist[folds != k], same[folds != k])
        else:
            try:
                thr, _ = resolve(RECOGNIZERS.entry(model).name, metric, None)
                protocol = "1 fold at the calibrated default threshold"
            except ParameterError:
                thr, _ = best_threshold(dist, same)
                protocol = "1 fold at its own best threshold (optimistic)"
        test = folds == k
        accs.append(float(((dist[test] <= thr) == same[test]).mean()))
        thrs.append(thr)
    far, tar = roc(dist, same)
    return Result(model, detector, metric, float(np.mean(accs)), float(np.std(accs)), tuple(accs), tuple(thrs),
                  {f"{t:g}": tar_at(dist, same, t) for t in (1e-3, 1e-2)}, float(np.trapezoid(tar, far)),
                  len(pairs), undetected, protocol)


def read_wider(path: str | Path) -> dict[str, list[tuple[Box, bool]]]:
    """WIDER FACE ground truth (``wider_face_*_bbx_gt.txt``): image -> list
    of (box, valid). Faces flagged invalid or of zero size are kept with
    ``valid=False`` so that callers decide whether they count."""
    try:
        lines = Path(path).read_text().split("\n")
    except OSError as exc:
        raise DataError(f"cannot read WIDER ground truth {path}: {exc.strerror or exc}") from exc
    out: dict[str, list[tuple[Box, bool]]] = {}
    i = 0
    try:
        while i < len(lines) and lines[i].strip():
            name, count = lines[i].strip(), int(lines[i + 1])
            faces = []
            for row in lines[i + 2: i + 2 + count]:
                x, y, w, h, _blur, _expr, _illum, invalid = map(int, row.split()[:8])
                faces.append((Box(float(x), float(y), float(w), float(h)), invalid == 0 and w > 0 and h > 0))
            out[name] = faces
            i += 2 + max(count, 1)  # an image with no face still has one (zero) row
    except (ValueError, IndexError):
        raise DataError(f"{path}: malformed WIDER ground truth near line {i + 1}") from None
    return out


def detection_recall(truth: list[tuple[Box, bool]], found: list[Box], iou: float = 0.5,
                     min_size: float = 0) -> tuple[int, int]:
    """(matched, total) valid ground-truth faces at least ``min_size`` pixels
    (shorter side), each matched greedily to an unused detection with IoU >= ``iou``."""
    used: set[int] = set()
    matched = total = 0
    for box, valid in sorted(truth, key=lambda t: -t[0].area):
        if not valid or min(box.w, box.h) < min_size:
            continue
        total += 1
        best, best_iou = None, iou
        for k, det in enumerate(found):
            if k not in used and box.iou(det) >= best_iou:
                best, best_iou = k, box.iou(det)
        if best is not None:
            used.add(best)
            matched += 1
    return matched, total
