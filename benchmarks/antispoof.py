"""Anti-spoofing on NUAA printed-photo attacks (ISO/IEC 30107-3 terms).

    python benchmarks/antispoof.py --data ../shared/data/nuaa-mini --models ../shared/models/minifasnet

APCER: attacks (printed photos) accepted as live. BPCER: live faces rejected.
Both at the default threshold, on all 240 images and on subjects 0005-0008
alone (the threshold was chosen on subjects 0001-0004), with the ROC AUC and
the median time anti-spoofing adds per face (after detection). Writes
benchmarks/results/antispoof.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def rates(live: np.ndarray, spoof: np.ndarray, threshold: float) -> dict:
    auc = float(np.mean([(lv > sp) + 0.5 * (lv == sp) for lv in live for sp in spoof]))
    return {"live": len(live), "attacks": len(spoof), "APCER": round(float((spoof >= threshold).mean()), 4),
            "BPCER": round(float((live < threshold).mean()), 4), "AUC": round(auc, 4),
            "lowest_live": round(float(live.min()), 4), "highest_attack": round(float(spoof.max()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True, help="folder with the two MiniFASNet ONNX files")
    parser.add_argument("--detector", default=None, help="detector whose boxes are checked (default: prosopo's)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "antispoof.json")
    args = parser.parse_args()
    os.environ["PROSOPO_MODELS"] = tempfile.mkdtemp()
    from prosopo import image as imagelib
    from prosopo import liveness
    from prosopo.defaults import DEFAULT_DETECTOR
    from prosopo.pipeline import find_faces

    detector = args.detector or DEFAULT_DETECTOR

    liveness.add(args.models)
    rows, times = [], []
    liveness.check(np.zeros((120, 120, 3), np.uint8), find_faces(np.zeros((120, 120, 3), np.uint8)), False)
    for kind in ("live", "spoof"):
        for path in sorted((args.data / kind).glob("*.jpg")):
            rgb = imagelib.load(path)
            faces = find_faces(rgb, detector, max_faces=1)
            if not faces:
                rows.append((kind, int(path.name[:4]), None))
                continue
            start = time.perf_counter()
            face = liveness.check(rgb, faces, True)[0]
            times.append(time.perf_counter() - start)
            rows.append((kind, int(path.name[:4]), face.spoof_score))
    threshold = liveness.DEFAULT_THRESHOLD
    result = {"detector": detector, "threshold": threshold, "no_face": sum(r[2] is None for r in rows),
              "ms_per_face_median": round(1000 * float(np.median(times[1:])), 2)}
    for name, keep in (("all", lambda s: True), ("subjects_0005_0008", lambda s: s >= 5),
                       ("subjects_0001_0004", lambda s: s <= 4)):
        live = np.array([r[2] for r in rows if r[0] == "live" and r[2] is not None and keep(r[1])])
        spoof = np.array([r[2] for r in rows if r[0] == "spoof" and r[2] is not None and keep(r[1])])
        result[name] = rates(live, spoof, threshold)
        r = result[name]
        print(f"{name:<20} APCER {100 * r['APCER']:.1f}%  BPCER {100 * r['BPCER']:.1f}%  AUC {r['AUC']:.4f}  "
              f"({r['live']} live, {r['attacks']} attacks)")
    print(f"anti-spoofing adds a median {result['ms_per_face_median']} ms per face (threshold {threshold})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
