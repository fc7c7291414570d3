"""Anonymisation of images and folders (prosopo.anonymize, `prosopo anonymize`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import prosopo
from prosopo.anonymizer import MODES, OperatingPoint, anonymize, anonymize_file, anonymize_folder
from prosopo.cli.anonymize import anonymize as anonymize_command
from prosopo.errors import ImageError, NoFaceError, ParameterError
from prosopo.evaluate import read_wider
from prosopo.types import Box

# Measured by benchmarks/anonymize.py: 129 of 132 faces >= 16 px (0.977) with
# SCRFD at the default ("high") point; the floor leaves a margin of 2 faces.
COVERAGE_FLOOR = 0.96


@pytest.fixture(scope="module")
def person(identification) -> tuple[str, list[Path]]:
    name = min(identification)
    return name, identification[name]


@pytest.fixture(scope="module")
def stranger(identification) -> tuple[str, list[Path]]:
    name = sorted(identification)[1]
    return name, identification[name]


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(anonymize_command)
    return app


def _still_recognised(img: np.ndarray, other: Path) -> bool:
    try:
        return prosopo.verify(img, other).verified
    except NoFaceError:
        return False


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_masks_the_face(person, mode):
    _, photos = person
    assert prosopo.verify(photos[0], photos[1]).verified  # so the test can fail
    result = anonymize(photos[0], mode=mode)
    assert len(result.boxes) >= 1
    assert not _still_recognised(result.image, photos[1])
    # the whole image (no detection) no longer verifies either
    assert not prosopo.verify(result.image, photos[1], enforce_detection=False).verified
    # no face at the default operating point where the face was
    face = prosopo.detect(photos[0])[0]
    assert all(f.box.iou(face.box) < 0.3 for f in prosopo.detect(result.image))
    assert result.mask[int(face.box.center[1]), int(face.box.center[0])]
    assert result.image.shape == prosopo.image.load(photos[0]).shape


def test_blur_scales_with_face_size(person):
    _, photos = person
    small = prosopo.image.load(photos[0])[::2, ::2].copy()  # half-size face: still masked
    big = np.repeat(np.repeat(prosopo.image.load(photos[0]), 3, 0), 3, 1)  # a 3x larger face too
    for img in (small, big):
        result = anonymize(img)
        assert result.boxes
        assert not _still_recognised(result.image, photos[1])


def test_coverage_on_wider(wider):
    truth = read_wider(wider / "wider_face_train_bbx_gt.txt")
    covered = counted = 0
    for name, faces in truth.items():
        mask = anonymize(wider / "images" / name).mask
        for box, valid in faces:
            if not valid or min(box.w, box.h) < 16:
                continue
            counted += 1
            x0, y0, x1, y1 = int(box.x), int(box.y), int(box.x + box.w), int(box.y + box.h)
            covered += mask[y0:y1, x0:x1].sum() >= 0.8 * (x1 - x0) * (y1 - y0)
    assert counted > 100
    assert covered / counted >= COVERAGE_FLOOR, f"{covered}/{counted}"


def test_operating_points(wider):
    """recall picks a point per call (the shared detector is left as it was);
    the fine pass's scale is relative, so the same scene at twice the size
    has the same faces masked."""
    from prosopo.detectors import DETECTORS

    truth = read_wider(wider / "wider_face_train_bbx_gt.txt")
    path = wider / "images" / max(truth, key=lambda n: len(truth[n]))
    before = prosopo.detect(path)
    usual, high, full = (anonymize(path, recall=r) for r in (False, True, "max"))
    assert len(usual.boxes) == len(before) < min(len(high.boxes), len(full.boxes))
    coarse = anonymize(path, recall=OperatingPoint(0.12, 0.25))
    assert len(coarse.boxes) < len(high.boxes)
    assert prosopo.detect(path) == before and DETECTORS.get("scrfd").score_threshold == 0.5
    big = anonymize(np.repeat(np.repeat(prosopo.image.load(path), 2, 0), 2, 1))
    halved = [Box(f.box.x / 2, f.box.y / 2, f.box.w / 2, f.box.h / 2) for f in big.faces]
    clear = [f for f in high.faces if f.score >= 0.5]  # weaker ones may come and go on resampling
    assert len(clear) >= 5 and all(max(f.box.iou(b) for b in halved) >= 0.4 for f in clear)
    for bad in ("highest", None, 0.5):
        with pytest.raises(ParameterError, match="recall"):
            anonymize(path, recall=bad)
    for coarse_above in (-1, 1.5, True):
        with pytest.raises(ParameterError, match="coarse_above"):
            OperatingPoint(0.1, 0.5, coarse_above)


@pytest.mark.parametrize("height", [340, 640])
def test_a_face_filling_a_small_frame_is_masked(person, height):
    """A 640x360 frame is seen in one pass (no coarse view below 512 px):
    a face as tall as the frame, or cut by all its borders, is masked."""
    import cv2

    _, photos = person
    img = prosopo.image.load(photos[0])
    box = prosopo.detect(img)[0].box
    x0, y0 = max(0, int(box.x - 0.2 * box.w)), max(0, int(box.y - 0.3 * box.h))
    crop = img[y0:int(box.y + box.h * 1.15), x0:int(box.x + box.w * 1.2)]
    big = cv2.resize(crop, None, fx=height / crop.shape[0], fy=height / crop.shape[0])
    frame = np.full((360, 640, 3), 90, np.uint8)
    bh, bw = big.shape[:2]
    top, left = (bh - 360) // 2, (bw - 640) // 2  # negative: the face is smaller than the frame there
    part = big[max(0, top):max(0, top) + 360, max(0, left):max(0, left) + 640]
    fy, fx = max(0, -top), max(0, -left)
    frame[fy:fy + part.shape[0], fx:fx + part.shape[1]] = part
    result = anonymize(frame)
    assert result.boxes
    assert result.mask[fy:fy + part.shape[0], fx:fx + part.shape[1]].mean() > 0.8
    assert not _still_recognised(result.image, photos[1])


def test_metadata_stripped_and_orientation_applied(person, tmp_path):
    _, photos = person
    src = tmp_path / "with-exif.jpg"
    upright = Image.open(photos[0]).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    exif[0x010F] = "CameraMaker"
    exif[0x0132] = "2024:01:01 12:00:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    # stored turned the other way, so that applying the orientation makes it upright
    upright.transpose(Image.Transpose.ROTATE_90).save(src, exif=exif.tobytes(), comment=b"secret place")
    assert Image.open(src).getexif().get_ifd(0x8825)  # the input does carry GPS
    for suffix in (".jpg", ".png", ".webp"):
        dst = tmp_path / f"out{suffix}"
        result = anonymize_file(src, dst)
        assert result.boxes
        with Image.open(dst) as out:
            assert not out.getexif()
            assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop"} & set(out.info)
            assert out.size == upright.size  # orientation applied to the pixels
        assert b"CameraMaker" not in dst.read_bytes() and b"secret" not in dst.read_bytes()


def test_keep_leaves_enrolled_visible(person, stranger, tmp_path):
    name, photos = person
    _, others = stranger
    a, b = prosopo.image.load(photos[0]), prosopo.image.load(others[0])
    scene = np.hstack([a, b])
    with prosopo.Gallery.open(tmp_path / "g", purpose="tests", legal_basis="consent") as gallery:
        gallery.enroll(name, photos[1:3])
        kept = anonymize(scene, keep=gallery)
        only = anonymize(scene, keep=gallery, keep_mode="only")
    width = a.shape[1]
    assert kept.identities == (name,) and len(kept.boxes) == 1
    assert np.array_equal(kept.image[:, : width - 40], scene[:, : width - 40])  # the enrolled person untouched
    assert kept.mask[:, width:].any() and not kept.mask[:, : width - 40].any()
    assert not only.mask[:, width + 40:].any() and only.mask[:, :width].any()
    assert not _still_recognised(only.image[:, :width].copy(), photos[3])


def test_folder_mirrors_tree_and_reports_broken_file(person, tmp_path):
    _, photos = person
    src, dst = tmp_path / "in", tmp_path / "out"
    (src / "sub" / "deeper").mkdir(parents=True)
    Image.open(photos[0]).save(src / "a.jpg")
    Image.open(photos[1]).save(src / "sub" / "b.png")
    Image.open(photos[2]).save(src / "sub" / "deeper" / "c.jpeg")
    (src / "sub" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (src / "notes.txt").write_text("not an image")
    result = CliRunner().invoke(cli(), [str(src), str(dst), "--mode", "pixelate", "--json"])
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["written"] == 3 and report["faces_masked"] >= 3
    assert [f["path"] for f in report["failed"]] == ["sub/broken.jpg"]
    assert report["failed"][0]["error"] == "bad_image"
    for rel in ("a.jpg", "sub/b.png", "sub/deeper/c.jpeg"):
        assert (dst / rel).is_file()
        assert not _still_recognised(prosopo.image.load(dst / rel), photos[3])
    assert not (dst / "notes.txt").exists() and not (dst / "sub" / "broken.jpg").exists()
    # the library call reports the same, without stopping
    lib = anonymize_folder(src, tmp_path / "out2", mode="solid")
    assert len(lib.written) == 3 and [f.path for f in lib.failed] == ["sub/broken.jpg"]


def test_cli_single_image_text_and_json(person, tmp_path):
    _, photos = person
    out = tmp_path / "x.png"
    result = CliRunner().invoke(cli(), [str(photos[0]), str(out), "--mode", "ellipse", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["masked"] >= 1 and data["mode"] == "ellipse" and out.is_file()
    text = CliRunner().invoke(cli(), [str(photos[0]), str(tmp_path / "y.jpg")])
    assert text.exit_code == 0 and "masked" in text.stdout


def test_bad_inputs_are_clean_errors(person, tmp_path):
    _, photos = person
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"garbage")
    with pytest.raises(ImageError):
        anonymize(broken)
    with pytest.raises(ParameterError, match="mode"):
        anonymize(photos[0], mode="smudge")
    with pytest.raises(ParameterError, match="expand"):
        anonymize(photos[0], expand=-1)
    with pytest.raises(ParameterError, match="keep"):
        anonymize(photos[0], keep="not a gallery")
    with pytest.raises(ParameterError, match="suffix"):
        anonymize_file(photos[0], tmp_path / "out.xyz")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ParameterError, match="cannot write"):
        anonymize_file(photos[0], blocker / "out.jpg")
    with pytest.raises(ParameterError, match="inside"):
        anonymize_folder(tmp_path, tmp_path / "out")

    runner, app = CliRunner(), cli()
    cases = [
        ([str(broken), str(tmp_path / "o.jpg")], 3, "bad_image"),
        ([str(tmp_path / "missing.jpg"), str(tmp_path / "o.jpg")], 3, "bad_image"),
        ([str(photos[0]), str(tmp_path / "o.jpg"), "--mode", "smudge"], 2, "bad_parameter"),
        ([str(photos[0]), str(blocker / "o.jpg")], 2, "bad_parameter"),
        ([str(photos[0]), str(tmp_path / "o.jpg"), "--only"], 2, "bad_parameter"),
        ([str(photos[0].parent), str(blocker / "sub")], 2, "bad_parameter"),
        ([str(photos[0]), str(tmp_path / "o.jpg"), "--keep", str(tmp_path / "no-gallery")], 7, "bad_store"),
    ]
    for args, code, error in cases:
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == code, (args, result.output)
        assert json.loads(result.stdout)["error"] == error
        assert result.exception is None or isinstance(result.exception, SystemExit)
    text = runner.invoke(app, [str(broken), str(tmp_path / "o.jpg")])
    assert text.exit_code == 3 and "error:" in text.stderr and "Traceback" not in text.output


def test_the_installed_command_and_the_top_level_function(person, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "masked.png"
    done = subprocess.run([sys.executable, "-m", "prosopo.cli", "anonymize", str(person[1][0]), str(out), "--json"],
                          capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and json.loads(done.stdout)
    result = prosopo.anonymize(str(person[1][0]))
    assert isinstance(result, prosopo.Anonymized) and len(result.boxes) >= 1
