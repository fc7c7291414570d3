"""How long the attributes of one face take after detection, on this CPU.

    python benchmarks/analyze_speed.py --images ../shared/data/lfw-mini/images [--runs 200]

For each set of actions: the median and 90th percentile of the time from an
already detected face to its attributes (alignment, quality checks, trunk and
heads), one face per call, plus detection alone for scale. Models are loaded
and warmed up before timing. Writes benchmarks/results/analyze_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from prosopo import image as imagelib
from prosopo.align import align_face
from prosopo.attributes.analysis import HEADS
from prosopo.attributes.quality import problems
from prosopo.defaults import DEFAULT_DETECTOR
from prosopo.pipeline import find_faces

SETS = (("age", "gender"), ("emotion",), ("age", "gender", "emotion"), ("age", "gender", "emotion", "race"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "analyze_speed.json")
    args = parser.parse_args()
    photos = sorted(args.images.rglob("*.jpg"))[: args.runs]
    faces = []
    detect_ms = []
    for p in photos:
        rgb = imagelib.load(p)
        start = time.perf_counter()
        found = find_faces(rgb, DEFAULT_DETECTOR)
        detect_ms.append(1000 * (time.perf_counter() - start))
        if found:
            faces.append((rgb, found[0]))
    heads = HEADS.get()
    for actions in SETS:  # load every model and warm up
        heads.predict([align_face(faces[0][0], faces[0][1], heads.template)], actions)
    results = {"faces": len(faces), "machine": platform.processor() or platform.machine(),
               "detector": DEFAULT_DETECTOR,
               "detection_ms_median": round(float(np.median(detect_ms)), 2), "per_face": {}}
    for actions in SETS:
        times = []
        for rgb, face in faces:
            start = time.perf_counter()
            crop = align_face(rgb, face, heads.template)
            problems(face, crop)
            heads.predict([crop], actions)
            times.append(1000 * (time.perf_counter() - start))
        key = ",".join(actions)
        results["per_face"][key] = {"median_ms": round(float(np.median(times)), 2),
                                    "p90_ms": round(float(np.percentile(times, 90)), 2)}
        print(f"{key:<28} median {np.median(times):6.2f} ms   p90 {np.percentile(times, 90):6.2f} ms")
    print(f"(detection alone, {DEFAULT_DETECTOR}: median {results['detection_ms_median']} ms)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
