"""Detect, align and describe every face of UTKFace or FER2013, once.

Each image goes through prosopo's own pipeline, exactly as ``analyze`` will
see it at run time: YuNet finds the face (the one nearest the centre: both
datasets are centred crops), its five landmarks align it to the 112x112
ArcFace template, and SFace's trunk describes it as the heads will see it:
in the FER-like view (``prosopo.attributes.heads.fer_like``: grey, at
FER2013's resolution); the race head's colour grid is computed from the
stored crops when it trains. FER2013's own faces already look like that and
are described as they are.
When YuNet finds no face
(small, dark or occluded chips) the dataset's median landmarks are used and
the image is flagged, so nothing is silently dropped.

Writes, under ``OUT/<dataset>/``:
  crops.npy     uint8 (n, 112, 112, 3) aligned crops
  trunk.npy     float16 (n, 1024, 7, 7) SFace's last feature map (``bn1``) of that view
  trunk-colour.npy  UTKFace only: the same for the colour crops, whose SFace
                embeddings make the subject-independent split (``data.utk_split``)
  meta.json     file names, labels, detection flags, scores

    python training/extract.py utk ~/datasets/utkface/data/UTKFace/unlabeled --out ~/datasets/prepared
    python training/extract.py fer ~/datasets/fer2013 --out ~/datasets/prepared

Uses both cores (one process per core); about 9 minutes for UTKFace and 17
for FER2013 here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_UPSCALE = 3  # 48x48 chips are too small for YuNet; 144x144 is not


def utk_items(root: Path) -> list[dict]:
    """UTKFace files with their labels (``age_gender_race_date.jpg.chip.jpg``);
    malformed names are skipped."""
    items = []
    for path in sorted(root.iterdir()):
        parts = path.name.split("_")
        if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
            print(f"skipping malformed name {path.name}", file=sys.stderr)
            continue
        age, gender, race = (int(p) for p in parts[:3])
        if gender not in (0, 1) or race not in range(5):
            print(f"skipping bad labels {path.name}", file=sys.stderr)
            continue
        items.append({"file": str(path), "age": age, "gender": gender, "race": race})
    return items


def fer_items(root: Path) -> list[dict]:
    """FER2013 files; the split (Training, PublicTest, PrivateTest) is the
    file-name prefix in this copy."""
    items = []
    for folder in ("train", "test"):
        for label, name in enumerate(FER_CLASSES):
            for path in sorted((root / folder / name).glob("*.jpg")):
                split = path.name.split("_")[0]
                items.append({"file": str(path), "emotion": label, "split": split})
    return items


def _load(item: dict, dataset: str) -> np.ndarray:
    import cv2

    image = cv2.imread(item["file"], cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read {item['file']}")
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if dataset == "fer":
        rgb = cv2.resize(rgb, None, fx=FER_UPSCALE, fy=FER_UPSCALE, interpolation=cv2.INTER_CUBIC)
    return rgb


def _detect(job: tuple[list[dict], str]) -> list[dict]:
    """Landmarks of the face nearest the centre, relative to the image size."""
    from prosopo.pipeline import find_faces

    items, dataset = job
    out = []
    for item in items:
        rgb = _load(item, dataset)
        h, w = rgb.shape[:2]
        faces = find_faces(rgb, "yunet")
        if faces:
            face = min(faces, key=lambda f: (f.box.center[0] - w / 2) ** 2 + (f.box.center[1] - h / 2) ** 2)
            out.append({"score": face.score, "landmarks": [[x / w, y / h] for x, y in face.landmarks]})
        else:
            out.append({"score": 0.0, "landmarks": None})
    return out


def _describe(job: tuple[list[dict], str, list]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Aligned crops, trunk maps of their FER-like view and (UTKFace) of the colour crops."""
    from prosopo.align import ARCFACE_112, align_face
    from prosopo.attributes.heads import fer_like
    from prosopo.attributes.trunk import Trunk
    from prosopo.types import Box, Face

    items, dataset, fallback = job
    trunk = Trunk()
    crops = []
    for item in items:
        rgb = _load(item, dataset)
        h, w = rgb.shape[:2]
        rel = item["landmarks"] or fallback
        face = Face(Box(0, 0, w, h), 1.0, tuple((x * w, y * h) for x, y in rel))
        crops.append(align_face(rgb, face, ARCFACE_112))
    crops = np.stack(crops)
    if dataset == "fer":
        return crops, trunk.features(crops).astype(np.float16), None
    view = trunk.features(np.stack([fer_like(c) for c in crops])).astype(np.float16)
    return crops, view, trunk.features(crops).astype(np.float16)


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=("utk", "fer"))
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    os.environ.setdefault("PROSOPO_THREADS", "1")
    from tqdm import tqdm

    items = utk_items(args.root) if args.dataset == "utk" else fer_items(args.root)
    out = args.out / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    with Pool(args.workers) as pool:
        jobs = [(c, args.dataset) for c in chunks(items, 64)]
        found = [d for part in tqdm(pool.imap(_detect, jobs), total=len(jobs), desc="detect") for d in part]
        for item, det in zip(items, found):
            item.update(det)
        marks = np.array([i["landmarks"] for i in items if i["landmarks"]])
        fallback = np.median(marks, axis=0).tolist()
        print(f"{args.dataset}: {len(items)} images, YuNet found {len(marks)}; "
              f"the other {len(items) - len(marks)} use the median landmarks", file=sys.stderr)
        crops = np.lib.format.open_memmap(out / "crops.npy", "w+", np.uint8, (len(items), 112, 112, 3))
        shape = (len(items), 1024, 7, 7)
        trunk = np.lib.format.open_memmap(out / "trunk.npy", "w+", np.float16, shape)
        colour = np.lib.format.open_memmap(out / "trunk-colour.npy", "w+", np.float16, shape) \
            if args.dataset == "utk" else None
        jobs = [(c, args.dataset, fallback) for c in chunks(items, 64)]
        start = 0
        for c, t, k in tqdm(pool.imap(_describe, jobs), total=len(jobs), desc="describe"):
            crops[start:start + len(c)] = c
            trunk[start:start + len(c)] = t
            if colour is not None:
                colour[start:start + len(c)] = k
            start += len(c)
        for array in (crops, trunk, colour):
            if array is not None:
                array.flush()
    meta = {"dataset": args.dataset, "fallback_landmarks": fallback, "items": items}
    (out / "meta.json").write_text(json.dumps(meta))


if __name__ == "__main__":
    main()
