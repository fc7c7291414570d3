"""How the shipped age and gender estimates degrade on small faces: the
held-out UTKFace test crops are shrunk to a face of N pixels and enlarged
back, then estimated by prosopo's runtime code. The sharpness prosopo
measures on such crops tells where its ``reliable`` flag should fall.

    python training/robustness.py --data ~/datasets/prepared [--n 800]

Writes training/reports/robustness.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from data import GENDERS, Prepared  # noqa: E402

from prosopo.attributes.heads import Heads  # noqa: E402
from prosopo.attributes.quality import sharpness  # noqa: E402

SIZES = (16, 20, 24, 32, 48, 64, 112)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("~/datasets/prepared"))
    parser.add_argument("--n", type=int, default=800)
    args = parser.parse_args()
    data = Prepared(args.data, "utk")
    test = set((Path(__file__).parent / "reports" / "splits" / "utk-test.txt").read_text().split())
    idx = np.array([i for i, n in enumerate(data.names()) if n in test and data.items[i]["age"] >= 18])
    idx = np.sort(np.random.default_rng(0).choice(idx, min(args.n, len(idx)), replace=False))
    crops = np.asarray(data.crops[idx])
    age, gender = data.labels("age")[idx], data.labels("gender")[idx]
    heads = Heads()
    rows = []
    for size in SIZES:
        shrunk = [c if size == 112 else cv2.resize(cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA),
                                                   (112, 112), interpolation=cv2.INTER_LINEAR) for c in crops]
        out = heads.predict(shrunk, ("age", "gender"))
        est = np.array([o["age"] for o in out])
        guess = np.array([GENDERS.index(max(o["gender"], key=o["gender"].get)) for o in out])
        sharp = np.array([sharpness(c) for c in shrunk])
        rows.append({"face_px": size, "age_mae": round(float(np.abs(est - age).mean()), 2),
                     "gender_accuracy": round(float((guess == gender).mean()), 4),
                     "sharpness_median": round(float(np.median(sharp)), 1)})
        print(rows[-1])
    out = Path(__file__).parent / "reports" / "robustness.json"
    out.write_text(json.dumps({"images": len(idx), "adults_only": True, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
