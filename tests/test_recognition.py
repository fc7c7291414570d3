"""Recognition on real faces (LFW fold 1 from ../shared/data/lfw-mini)."""

from __future__ import annotations

import numpy as np
import pytest

import prosopo
from prosopo.defaults import DEFAULT_DETECTOR, DEFAULT_MODEL
from prosopo.evaluate import embed_images, kfold, pair_distances


def _img(lfw, rel):
    return lfw / "images" / rel


def test_same_person_verified(lfw, lfw_pairs):
    for pair in [p for p in lfw_pairs if p.same][:5]:
        result = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right))
        assert result.verified, (pair, result.distance)
        assert result.distance < result.threshold
        assert result.model == DEFAULT_MODEL and result.detector == DEFAULT_DETECTOR and result.metric == "cosine"


def test_different_people_rejected(lfw, lfw_pairs):
    for pair in [p for p in lfw_pairs if not p.same][:5]:
        result = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right))
        assert not result.verified, (pair, result.distance)


@pytest.mark.parametrize("options", [{}, {"model": "sface", "detector": "yunet"}], ids=["defaults", "permissive"])
def test_fold1_accuracy_with_default_settings(lfw, lfw_pairs, options):
    """verify() with every default (and with the permissively licensed
    YuNet and SFace), on LFW fold 1 (300 same + 300 different)."""
    names = sorted({p.left for p in lfw_pairs} | {p.right for p in lfw_pairs})
    reps = dict(zip(names, prosopo.represent_many([_img(lfw, n) for n in names], **options)))
    threshold = prosopo.verify(_img(lfw, names[0]), _img(lfw, names[0]), **options).threshold
    correct = 0
    for p in lfw_pairs:
        a = np.stack([r.embedding for r in reps[p.left]])
        b = np.stack([r.embedding for r in reps[p.right]])
        correct += (prosopo.distances(a, b).min() <= threshold) == p.same  # closest pair, as verify() does
    accuracy = correct / len(lfw_pairs)
    assert accuracy >= 0.99, accuracy


def test_verify_matches_closest_pair_logic(lfw, lfw_pairs):
    pair = next(p for p in lfw_pairs if p.same)
    result = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right))
    a = prosopo.represent(_img(lfw, pair.left))
    b = prosopo.represent(_img(lfw, pair.right))
    i, j = result.pair
    assert result.faces_found == (len(a), len(b))
    assert result.distance == pytest.approx(prosopo.distance(a[i].embedding, b[j].embedding), abs=1e-5)
    assert result.face1 == a[i].face and result.face2 == b[j].face


@pytest.mark.parametrize("metric", ["euclidean", "euclidean_l2", "angular"])
def test_metrics_agree_with_cosine(lfw, lfw_pairs, metric):
    """Every metric is a monotone map of cosine, with thresholds converted: same decisions."""
    for pair in lfw_pairs[295:305]:
        cos = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right))
        other = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right), metric=metric)
        assert other.verified == cos.verified == pair.same
        assert other.metric == metric and other.threshold != cos.threshold


def test_stricter_operating_point_has_smaller_threshold(lfw, lfw_pairs):
    pair = next(p for p in lfw_pairs if p.same)
    default = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right))
    strict = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right), threshold="fmr=1e-4")
    assert strict.operating_point == "fmr=0.0001"
    assert strict.threshold < default.threshold
    assert strict.distance == pytest.approx(default.distance)


def test_represent_result(lfw, lfw_pairs):
    reps = prosopo.represent(_img(lfw, lfw_pairs[0].left))
    assert len(reps) >= 1
    r = reps[0]
    assert r.embedding.dtype == np.float32 and r.embedding.shape == (512,)
    assert np.linalg.norm(r.embedding) == pytest.approx(1.0, abs=1e-4)
    assert len(r.face.landmarks) == 5 and 0.5 < r.face.score <= 1.0
    cx, cy = r.face.box.center
    assert 60 < cx < 190 and 60 < cy < 190  # LFW subjects are centred in 250x250
    assert set(r.to_dict()) >= {"box", "score", "landmarks", "embedding", "model"}


def test_flip_changes_embedding_but_not_identity(lfw, lfw_pairs):
    path = _img(lfw, lfw_pairs[0].left)
    plain = prosopo.represent(path)[0].embedding
    flipped = prosopo.represent(path, flip=True)[0].embedding
    assert 0.9 < float(plain @ flipped) < 0.99999


def test_dlib_recognizer(lfw, lfw_pairs):
    pytest.importorskip("face_recognition_models")
    same = next(p for p in lfw_pairs if p.same)
    diff = next(p for p in lfw_pairs if not p.same)
    assert prosopo.verify(_img(lfw, same.left), _img(lfw, same.right), model="dlib").verified
    assert not prosopo.verify(_img(lfw, diff.left), _img(lfw, diff.right), model="dlib").verified
    assert prosopo.represent(_img(lfw, same.left), model="dlib")[0].embedding.shape == (128,)


def test_dlib_network_converted_exactly(lfw, lfw_pairs):
    """The dlib network prosopo runs on ONNX Runtime gives the descriptors
    dlib itself computes for the same chips."""
    dlib = pytest.importorskip("dlib")
    from prosopo import image as imagelib
    from prosopo.embed import DLIB_FILE, RECOGNIZERS
    from prosopo.models import package_file
    from prosopo.pipeline import find_faces

    rec = RECOGNIZERS.get("dlib")
    chips = []
    for name in (lfw_pairs[0].left, lfw_pairs[0].right, lfw_pairs[-1].right):
        rgb = imagelib.load(_img(lfw, name))
        chips += rec.crops(rgb, find_faces(rgb, "yunet", landmarks=True)[:1])
    ours = rec._session.run(None, {"chips": np.stack(chips).astype(np.float32)})[0]
    net = dlib.face_recognition_model_v1(str(package_file(*DLIB_FILE, extra="dlib")))
    theirs = np.array(net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips]))
    assert np.abs(ours - theirs).max() < 1e-4


def test_damaged_dlib_file_is_a_model_error(tmp_path):
    from prosopo.embed import DLIB_FILE, dlib_convert
    from prosopo.errors import ModelError
    from prosopo.models import package_file

    data = package_file(*DLIB_FILE, extra="dlib").read_bytes()
    for broken in (b"", b"not a dlib file", data[: len(data) // 2]):
        (tmp_path / "x.dat").write_bytes(broken)
        with pytest.raises(ModelError):
            dlib_convert.convert(tmp_path / "x.dat")


@pytest.mark.parametrize("fused", ["sface+dlib", "arcface-mbf+sface"])
def test_fused_recognizer_combines_distances(lfw, lfw_pairs, fused):
    from prosopo.embed import RECOGNIZERS

    cls = RECOGNIZERS.backend_class(fused)
    first, second = cls.parts
    pair = lfw_pairs[0]
    a, b = _img(lfw, pair.left), _img(lfw, pair.right)
    d = {m: prosopo.verify(a, b, model=m, threshold=0.5).distance for m in (first, second, fused)}
    assert d[fused] == pytest.approx(cls.weight * d[first] + (1 - cls.weight) * d[second], abs=1e-4)
    assert prosopo.represent(a, model=fused)[0].embedding.shape == (cls.dim,)


@pytest.mark.parametrize("detector", ["haar", "dlib-hog", "skip"])
def test_other_detectors_verify_same_person(lfw, lfw_pairs, detector):
    if detector == "dlib-hog":
        pytest.importorskip("dlib")
    pair = next(p for p in lfw_pairs if p.same)
    result = prosopo.verify(_img(lfw, pair.left), _img(lfw, pair.right), detector=detector)
    assert result.verified and result.detector == detector


def test_landmarkless_detector_borrows_yunet_landmarks(lfw, lfw_pairs):
    faces = prosopo.extract_faces(_img(lfw, lfw_pairs[0].left), detector="haar")
    assert faces[0].face.landmarks is not None and faces[0].crop.shape == (112, 112, 3)
    assert prosopo.detect(_img(lfw, lfw_pairs[0].left), detector="haar")[0].landmarks is None


def test_evaluate_protocol_on_fold1(lfw, lfw_pairs, tmp_path):
    names = {p.left for p in lfw_pairs} | {p.right for p in lfw_pairs}
    emb = embed_images(lfw / "images", names, cache=tmp_path)
    result = kfold(pair_distances(lfw_pairs, emb), lfw_pairs, model=DEFAULT_MODEL, detector=DEFAULT_DETECTOR,
                   metric="cosine")
    assert result.accuracy >= 0.99 and result.pairs == 600 and len(result.fold_accuracies) == 1
    assert result.tar_at_far["0.001"] > 0.9 and result.auc > 0.995
    # the cache makes the second pass free of detection and embedding
    again = embed_images(lfw / "images", names, cache=tmp_path)
    assert all(np.array_equal(again.vectors[n], emb.vectors[n]) for n in names)
