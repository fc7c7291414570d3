"""analyze(): age, gender, emotion and opt-in race on real faces.

The floors catch a broken model or a shuffled label order; they sit well
below what the models measured on these same images (in the comments) and
far above chance. utk-mini is in the held-out test split by construction
(training/data.py), fer-mini is FER2013 PrivateTest.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_cli import run

import prosopo
from prosopo.attributes import EMOTIONS, GENDERS, RACES


def _utk_labels(path: Path) -> tuple[int, int, int]:
    age, gender, race = path.name.split("_")[:3]
    return int(age), int(gender), int(race)


@pytest.fixture(scope="module")
def utk(utk_mini):
    """(labels, analyses) for all 600 utk-mini photos, race included."""
    paths = sorted(utk_mini.glob("*.jpg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        results = prosopo.analyze(paths, actions=("age", "gender", "race"), max_faces=1, enforce_detection=False)
    return [_utk_labels(p) for p in paths], [r[0] for r in results]


def _fer_image(path: Path) -> np.ndarray:
    """FER's 48x48 grey chips, enlarged three times: YuNet needs faces of
    about 40 px or more."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(cv2.resize(grey, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)


@pytest.fixture(scope="module")
def fer(fer_mini):
    paths = sorted(fer_mini.glob("*/*.jpg"))
    results = prosopo.analyze([_fer_image(p) for p in paths], actions="emotion", max_faces=1,
                              enforce_detection=False)
    return [p.parent.name for p in paths], [r[0] for r in results]


def test_gender_and_age_on_utk_mini(utk):
    labels, results = utk
    truth_gender = np.array([g for _, g, _ in labels])
    guess = np.array([GENDERS.index(r.dominant_gender) for r in results])
    accuracy = (guess == truth_gender).mean()
    assert accuracy >= 0.85, accuracy  # measured 93.5% (a third of utk-mini are children)
    ages = np.array([a for a, _, _ in labels])
    mae = np.abs(np.array([r.age for r in results]) - ages).mean()
    assert mae <= 7.5, mae  # measured 4.06 years


def test_label_order(utk):
    """The probability named "female" is high on photos labelled female."""
    labels, results = utk
    female = np.array([g == 1 for _, g, _ in labels])
    p_female = np.array([r.gender["female"] for r in results])
    assert p_female[female].mean() > 0.75 and p_female[~female].mean() < 0.25
    assert list(results[0].gender) == list(GENDERS)
    assert list(results[0].race) == list(RACES)
    ages = np.array([a for a, _, _ in labels])
    estimates = np.array([r.age for r in results])
    assert estimates[ages <= 5].mean() < 12
    assert estimates[ages >= 60].mean() > 45


def test_race_on_utk_mini(utk):
    labels, results = utk
    truth = np.array([r for _, _, r in labels])
    guess = np.array([RACES.index(r.dominant_race) for r in results])
    assert (guess == truth).mean() >= 0.6  # measured 80.7% (a fifth of utk-mini is "other")
    for k, name in enumerate(RACES[:4]):  # "other" is a catch-all with low recall (39% here)
        assert (guess[truth == k] == k).mean() >= 0.5, name  # measured 88% to 94%


def test_age_range_brackets_the_estimate(utk):
    _, results = utk
    for r in results[:50]:
        lo, hi = r.age_range
        assert lo <= r.age <= hi and hi - lo < 60


def test_emotion_on_fer_mini(fer):
    labels, results = fer
    guess = [r.dominant_emotion for r in results]
    accuracy = np.mean([g == t for g, t in zip(guess, labels)])
    assert accuracy >= 0.45, accuracy  # measured 68.6%; 7 classes, 50 each: chance is 14%
    happy = [g for g, t in zip(guess, labels) if t == "happy"]
    assert happy.count("happy") / len(happy) >= 0.7  # measured 94%
    assert list(results[0].emotion) == list(EMOTIONS)
    assert abs(sum(results[0].emotion.values()) - 1) < 1e-4


def test_race_is_opt_in(lfw):
    photo = next((lfw / "images").glob("*/*.jpg"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default = prosopo.analyze(photo)  # no race, no warning
    assert default[0].race is None and default[0].dominant_race is None
    d = default[0].to_dict()
    assert "race" not in d and "dominant_race" not in d
    assert {"age", "age_range", "gender", "dominant_gender", "emotion", "dominant_emotion"} <= set(d)
    with pytest.warns(UserWarning, match="EU AI Act"):
        asked = prosopo.analyze(photo, actions=["race"])
    assert asked[0].race is not None and asked[0].age is None and asked[0].emotion is None


@pytest.mark.parametrize("actions", [["height"], [], "age,shoe_size", 42])
def test_bad_actions(lfw, actions):
    photo = next((lfw / "images").glob("*/*.jpg"))
    with pytest.raises(prosopo.ParameterError):
        prosopo.analyze(photo, actions=actions)


def test_batches_keep_order_and_match_single_calls(lfw):
    photos = sorted((lfw / "images").glob("*/*.jpg"))[:5]
    batch = prosopo.analyze(photos, actions="age,gender")
    assert len(batch) == 5
    for photo, row in zip(photos, batch):
        single = prosopo.analyze(photo, actions="age,gender")
        assert len(single) == len(row)
        assert abs(single[0].age - row[0].age) < 1e-3
        assert abs(single[0].gender["male"] - row[0].gender["male"]) < 1e-4


@pytest.mark.parametrize("actions", [("age", "gender", "emotion"), ("emotion",), ("race",),
                                     ("age", "gender", "emotion", "race")])
def test_attributes_take_one_trunk_pass(lfw, monkeypatch, actions):
    """Every head reads the same (grey) view of each face; race adds only the
    crop's colour grid, not a second pass."""
    from prosopo.attributes.analysis import HEADS

    heads = HEADS.get()
    seen = []
    features = heads._trunk.features
    monkeypatch.setattr(heads._trunk, "features", lambda crops: seen.append(len(crops)) or features(crops))
    photo = min((lfw / "images").glob("*/*.jpg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        faces = prosopo.analyze(photo, actions=actions, max_faces=1)
    assert seen == [len(faces)]
    assert all(getattr(faces[0], a) is not None for a in actions)


def test_colour_grid_reads_colour():
    """The race head's colour input: Lab cells, so a red and a blue face differ
    and a grey one sits at the centre of the a and b channels."""
    from prosopo.attributes.heads import colour_grid

    grey = np.full((112, 112, 3), 128, np.uint8)
    red, blue = grey.copy(), grey.copy()
    red[..., 0], blue[..., 2] = 220, 220
    g = colour_grid(grey, 14)
    assert g.shape == (3, 14, 14) and g.dtype == np.float32
    assert np.abs(g[1:]).max() < 0.05
    assert colour_grid(red, 14)[1].mean() > 0.3 and colour_grid(blue, 14)[2].mean() < -0.3


def test_small_or_blurred_faces_are_flagged(lfw):
    photo = lfw / "images" / "George_W_Bush" / "George_W_Bush_0001.jpg"
    if not photo.is_file():
        photo = next((lfw / "images").glob("*/*.jpg"))
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    sharp = prosopo.analyze(rgb)[0]
    assert sharp.reliable and not sharp.warnings
    blurred = prosopo.analyze(cv2.GaussianBlur(rgb, (0, 0), 6), enforce_detection=False)[0]
    assert not blurred.reliable and any("blurred" in w for w in blurred.warnings)
    small = cv2.resize(rgb, (60, 60), interpolation=cv2.INTER_AREA)
    tiny = prosopo.analyze(np.pad(small, ((70, 70), (70, 70), (0, 0))), enforce_detection=False)[0]
    assert not tiny.reliable


def test_no_face(lfw):
    with pytest.raises(prosopo.NoFaceError):
        prosopo.analyze(np.full((200, 200, 3), 127, np.uint8))
    whole = prosopo.analyze(np.full((200, 200, 3), 127, np.uint8), enforce_detection=False)
    assert len(whole) == 1 and whole[0].face.score == 0


def test_cli_analyze(lfw, tmp_path):
    photo = next((lfw / "images").glob("*/*.jpg"))
    out = tmp_path / "drawn.jpg"
    result = run("analyze", str(photo), "--json", "--draw", str(out))
    assert result.returncode == 0, result.stderr
    faces = json.loads(result.stdout)
    assert faces and "dominant_emotion" in faces[0] and "race" not in faces[0]
    assert out.stat().st_size > 1000
    result = run("analyze", str(photo), "--actions", "race")
    assert result.returncode == 0 and "EU AI Act" in result.stderr and any(r in result.stdout for r in RACES)
    result = run("analyze", str(tmp_path / "missing.jpg"), "--json")
    assert result.returncode == 3 and json.loads(result.stdout)["error"] and "Traceback" not in result.stderr


def test_attribute_models_ship_small_with_cards():
    from importlib import resources

    from prosopo.catalog import catalog

    rows = {r["name"]: r for r in catalog() if r["kind"] == "attributes"}
    assert set(rows) == {"age-gender", "emotion", "race"}
    folder = resources.files("prosopo.attributes") / "models"
    for name, row in rows.items():
        assert row["installed"] and 0 < row["bytes"] <= 5_000_000
        card = (folder / f"{name}.md").read_text()
        assert "non-commercial" in card or "research use only" in card


@pytest.mark.parametrize("bad", [b"", b"not an image at all", b"\xff\xd8\xff\xe0 truncated jpeg"])
def test_bad_input_is_a_typed_error(bad):
    with pytest.raises(prosopo.ImageError):
        prosopo.analyze(bad)
    assert prosopo.analyze([]) == []
    with pytest.raises(prosopo.ParameterError):
        prosopo.analyze(np.zeros((64, 64, 3), np.uint8), actions=None)
