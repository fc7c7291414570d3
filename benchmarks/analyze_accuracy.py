"""Age, gender and race accuracy of ``prosopo.analyze`` on the held-out UTKFace
test photos, and emotion accuracy on a FER2013 folder, through the public
API with a chosen detector: the check that the attribute heads (trained on
YuNet-aligned crops) still hold when the faces come from another detector.

    python benchmarks/analyze_accuracy.py --utk ~/datasets/utkface/data/UTKFace/unlabeled \
        --fer ../shared/data/fer-mini --detector yunet --detector scrfd
    python benchmarks/analyze_accuracy.py --fer ~/datasets/fer2013/private --detector yunet --detector scrfd

(``private``: the PrivateTest_* files of FER2013's test folder, one
sub-folder per emotion.) Results are merged into
benchmarks/results/analyze_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import cv2
import numpy as np

import prosopo
from prosopo.attributes import EMOTIONS, GENDERS, RACES

HERE = Path(__file__).parent


def utk(folder: Path, names: list[str], detector: str) -> dict:
    err, ok, race_ok = [], [], []
    for name in names:
        age, gender, race = (int(v) for v in name.split("_")[:3])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # race's warning, once per call
            face = prosopo.analyze(folder / name, actions=["age", "gender", "race"], detector=detector,
                                   enforce_detection=False, max_faces=1)[0]
        err.append(abs(face.age - age))
        ok.append(face.dominant_gender == GENDERS[gender])
        race_ok.append(face.dominant_race == RACES[race])
    return {"photos": len(names), "age_mae": round(float(np.mean(err)), 3), "gender_accuracy": round(float(np.mean(ok)), 4),
            "race_accuracy": round(float(np.mean(race_ok)), 4)}


def fer(folder: Path, detector: str) -> dict:
    """FER's 48x48 grey chips, enlarged three times as the tests do (faces of
    48 px are near the detectors' smallest)."""
    ok = []
    for label in EMOTIONS:
        for path in sorted((folder / label).glob("*")):
            grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            rgb = cv2.cvtColor(cv2.resize(grey, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)
            face = prosopo.analyze(rgb, actions=["emotion"], detector=detector, enforce_detection=False,
                                   max_faces=1)[0]
            ok.append(face.dominant_emotion == label)
    return {"photos": len(ok), "emotion_accuracy": round(float(np.mean(ok)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utk", type=Path, help="UTKFace folder (photos named age_gender_race_date)")
    parser.add_argument("--list", type=Path, default=HERE.parent / "training" / "reports" / "splits" / "utk-test.txt")
    parser.add_argument("--fer", type=Path, help="FER2013 folder with one sub-folder per emotion")
    parser.add_argument("--detector", action="append")
    args = parser.parse_args()
    names = args.list.read_text().split()
    out = HERE / "results" / "analyze_accuracy.json"
    result = json.loads(out.read_text()) if out.exists() else {}  # other folders' figures are kept
    for detector in args.detector or ["yunet"]:
        row = result.setdefault(detector, {})
        if args.utk:
            row["utkface_test"] = utk(args.utk.expanduser(), names, detector)
        if args.fer:
            row[f"fer {args.fer.name}"] = fer(args.fer.expanduser(), detector)
        print(detector, json.dumps(row))
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
