"""prosopo's attribute heads on SFace's trunk, run with ONNX Runtime.

``age-gender.onnx`` gives a distribution over ages 0..100 and the gender
probabilities (male, female), ``race.onnx`` five race probabilities,
``emotion.onnx`` seven emotion probabilities. All read the trunk's
1024 x 7 x 7 map of a face aligned to the 112x112 ArcFace template.

The emotion head learned from FER2013's grey 48x48 faces, so it is shown the
face as FER shows it: grey, and reduced to FER's resolution (its eyes are a
median 19.6 px apart against the template's 35.2) before being enlarged
back. The age and gender head and the race head were trained on that view
too, so every attribute of a face costs one trunk pass (a colour pass for
age and gender doubled the time, for 0.1 years of age error and 0.1 points
of gender accuracy on UTKFace's test split). Race needs colour as well (on
the grey map alone it fell below its target), so its head has a second
input, the crop's colour as a coarse grid of CIE Lab values
(``colour_grid``), which costs far less than the colour trunk pass it
replaces. See README, "Accuracy of attributes".
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..embed.sface import dequantize
from ..errors import ModelError
from ..models import derived_file
from ..runtime.onnx_session import session
from . import EMOTIONS, GENDERS, RACES, check_licence
from .trunk import Trunk

AGES = np.arange(101, dtype=np.float32)
AGE_INTERVAL = (0.1, 0.9)  # the age range reported: central 80% of the distribution
HEAD_FILES = {"age": "age-gender.onnx", "gender": "age-gender.onnx", "race": "race.onnx",
              "emotion": "emotion.onnx"}
LABELS = {"gender": GENDERS, "race": RACES, "emotion": EMOTIONS}
BATCH = 32
EMOTION_SCALE = 19.6 / 35.2


def model_file(name: str) -> Path:
    path = Path(str(resources.files("prosopo.attributes") / "models" / name))
    if not path.is_file():
        raise ModelError(f"attribute model {name} is missing from the prosopo package ({path}); reinstall prosopo")
    return path


def fer_like(crop: np.ndarray) -> np.ndarray:
    """The aligned crop as FER2013 would show it: grey, at FER's resolution."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    small = cv2.resize(grey, (round(w * EMOTION_SCALE), round(h * EMOTION_SCALE)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)


def colour_grid(crop: np.ndarray, size: int) -> np.ndarray:
    """The aligned crop's colour as the race head reads it: CIE Lab averaged
    over ``size`` x ``size`` cells, channels first, centred and scaled to
    about [-2, 2]."""
    lab = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2LAB), (size, size), interpolation=cv2.INTER_AREA)
    return (lab.transpose(2, 0, 1).astype(np.float32) - 128) / 64


def load_head(path: Path):
    """An inference session of a head file; weights a file stores as int8
    (to stay small) are folded back to float32 once and cached."""
    return session(derived_file(path, ".float.onnx", dequantize, code=(dequantize,)))


class Heads:
    """The trunk and the heads, loaded on first use; safe to share between
    threads."""

    template = Trunk.template

    def __init__(self) -> None:
        check_licence()
        self._trunk = Trunk()
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()

    def _session(self, name: str):
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = load_head(model_file(name))
            return self._sessions[name]

    def predict(self, crops: list[np.ndarray], actions: tuple[str, ...]) -> list[dict]:
        """For each aligned crop, the asked attributes as plain values."""
        check_licence()  # the policy may have changed since the heads loaded
        out: list[dict] = [{} for _ in crops]
        files = list(dict.fromkeys(HEAD_FILES[a] for a in actions))
        for start in range(0, len(crops), BATCH):
            chunk = crops[start:start + BATCH]
            feeds = {"trunk": self._trunk.features([fer_like(c) for c in chunk])}
            for name in files:
                sess = self._session(name)
                inputs = {i.name: i.shape for i in sess.get_inputs()}
                if "colour" in inputs:
                    feeds["colour"] = np.stack([colour_grid(c, inputs["colour"][-1]) for c in chunk])
                values = sess.run(None, {k: feeds[k] for k in inputs})
                for key, probs in zip((o.name for o in sess.get_outputs()), values):
                    for i in range(len(chunk)):
                        self._fill(out[start + i], key, probs[i], actions)
        return out

    @staticmethod
    def _fill(result: dict, key: str, probs: np.ndarray, actions: tuple[str, ...]) -> None:
        if key not in actions:
            return
        p = probs.astype(np.float64)
        if key == "age":
            cdf = np.cumsum(p / p.sum())
            result["age"] = float(p @ AGES)
            result["age_range"] = tuple(float(np.searchsorted(cdf, q)) for q in AGE_INTERVAL)
        else:
            result[key] = {label: float(v) for label, v in zip(LABELS[key], p)}
