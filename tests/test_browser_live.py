"""The page's live camera mode in Debian's Chromium, headless, with a fake
camera that plays the synthetic clip (LFW faces moving on a background,
written here as a Y4M file), against a real server whose gallery knows
three of the four people.

Screenshots go to ``$PROSOPO_SCREENSHOTS`` (else a temporary folder)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
from test_browser import CHROMIUM, FLAGS, open_page
from test_server import Server

from prosopo.streams.synthetic import synthetic_clip

expect = sync_api.expect


def write_y4m(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """RGB frames as a YUV4MPEG2 file (4:2:0), the format Chromium's fake camera plays."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())  # Y, then U, then V planes
    return path


@pytest.fixture(scope="module")
def clip(identification):
    names = sorted(identification)[:4]
    return synthetic_clip([(name, identification[name][0]) for name in names])


@pytest.fixture(scope="module")
def site(tmp_path_factory, identification, clip):
    folder = tmp_path_factory.mktemp("live-page")
    camera = write_y4m(clip.frames, folder / "clip.y4m", round(clip.fps))
    server = Server(folder / "data")
    token = server.key("browser")
    for name in clip.people[:3]:  # the fourth is a stranger
        r = server.post("/v1/galleries/staff/enroll", token, data={"identity": name, "legal_basis": "consent"},
                        files={"img": identification[name][1].read_bytes()})
        assert r.status_code == 200, r.text
    shots = Path(os.environ.get("PROSOPO_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    flags = [*FLAGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-video-capture={camera}"]
    with sync_api.sync_playwright() as p:
        browser, page, errors = open_page(p, server, token, flags)
        yield page, shots, errors, server, p
        browser.close()
    server.stop()


def test_live_camera_names_known_people(site, clip):
    page, shots, errors, server, _ = site
    page.fill("#live-gallery", "staff")
    page.click("#live-start")
    expect(page.locator("#live-people li").first).to_be_visible(timeout=60000)
    expect(page.locator("#live-status")).to_contain_text("frames/s", timeout=10000)
    page.wait_for_timeout(1500)
    page.locator("#live-view").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "6-live-camera.png"), full_page=True)
    people = page.locator("#live-people li").all_text_contents()
    named = {text.split(" (track #")[0] for text in people}
    assert named and named <= set(clip.people[:3]), people  # the stranger is never named
    tracks = json.loads(page.get_attribute("#live-overlay", "data-tracks") or "[]")
    assert tracks and all(t["w"] > 10 and t["h"] > 10 for t in tracks)
    assert page.evaluate("document.querySelector('#live-overlay').width") > 0
    status = page.text_content("#live-status")
    page.click("#live-stop")
    expect(page.locator("#live-status")).to_have_text("Stopped.")
    expect(page.locator("#live-view")).to_be_hidden()
    print("live status:", status)
    assert not errors, errors
    audit = server.get("/v1/galleries/staff/audit", page.input_value("#api-key")).json()["entries"]
    assert any(e["action"] == "identify" and e["detail"].get("live") for e in audit)


def test_live_tracks_without_a_gallery(site):
    page, shots, errors, _, _ = site
    page.fill("#live-gallery", "")
    page.click("#live-start")
    expect(page.locator("#live-status")).to_contain_text("frames/s", timeout=60000)
    expect(page.locator("#live-overlay")).to_have_attribute("data-tracks", re.compile(r'"id"'), timeout=30000)
    tracks = json.loads(page.get_attribute("#live-overlay", "data-tracks") or "[]")
    assert all(t["identity"] is None for t in tracks)
    page.screenshot(path=str(shots / "7-live-tracks-only.png"), full_page=True)
    page.click("#live-stop")
    assert not errors, errors


@pytest.mark.parametrize(("flags", "shown"), [
    (["--use-fake-device-for-media-stream"], "permission was denied"),  # a camera, but no consent given
    ([], "No camera was found"),
])
def test_camera_denied_or_absent(site, flags, shown):
    _, shots, _, server, p = site
    browser = p.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, *flags])
    try:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.click("#live-start")
        expect(page.locator("#error")).to_contain_text(shown, timeout=30000)
        expect(page.locator("#live-start")).to_be_enabled()
        page.screenshot(path=str(shots / f"9-live-camera-{'denied' if flags else 'absent'}.png"), full_page=True)
    finally:
        browser.close()


def test_live_connection_problems_are_shown(site):
    page, shots, errors, server, _ = site
    page.fill("#live-gallery", "nosuch")
    page.click("#live-start")
    expect(page.locator("#error")).to_contain_text("no gallery named 'nosuch'", timeout=30000)
    expect(page.locator("#live-status")).to_contain_text("no gallery named 'nosuch'")  # beside the live view too
    expect(page.locator("#live-start")).to_be_enabled()
    key = page.input_value("#api-key")
    page.fill("#api-key", "pk_nothere_wrong")
    page.fill("#live-gallery", "staff")
    page.click("#live-start")
    expect(page.locator("#error")).to_contain_text("unknown or revoked", timeout=30000)
    page.screenshot(path=str(shots / "8-live-bad-key.png"), full_page=True)
    page.fill("#api-key", key)
    server.stop()  # the server goes away
    page.click("#live-start")
    expect(page.locator("#error")).to_contain_text("connection to the server failed", timeout=30000)
    assert not errors, errors
