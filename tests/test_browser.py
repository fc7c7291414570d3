"""The web page at ``/`` in a real browser: Debian's Chromium, headless,
driven by Playwright, against a real server with API keys on.

Screenshots of each step go to ``$PROSOPO_SCREENSHOTS`` (else a temporary
folder)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from test_server import Server

expect = sync_api.expect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def open_page(p, server: Server, token: str, flags: list[str] = FLAGS):
    """Chromium (from Playwright's ``p``) on the server's page with ``token``
    entered: the browser, the page and the list its script errors go to."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.fill("#api-key", token)
    page.dispatch_event("#api-key", "change")
    return browser, page, errors


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("page"))
    token = server.key("browser")
    shots = Path(os.environ.get("PROSOPO_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser, page, errors = open_page(p, server, token)
        yield page, shots, errors
        browser.close()
    server.stop()


def test_no_broken_images_before_any_upload(site):
    page, _shots, errors = site
    for thumb in ("#verify-thumb1", "#verify-thumb2"):
        expect(page.locator(thumb)).to_be_hidden()
        assert page.evaluate(f"getComputedStyle(document.querySelector('{thumb}')).display") == "none"
    assert not errors


def test_verify_two_photos(site, identification):
    page, shots, errors = site
    (a1, a2, *_), (b1, *_) = list(identification.values())[:2]
    page.set_input_files("#verify-img1", str(a1))
    page.set_input_files("#verify-img2", str(a2))
    page.click("#verify-run")
    expect(page.locator("#verify-result")).to_contain_text("Same person", timeout=60000)
    page.screenshot(path=str(shots / "1-verify-same.png"), full_page=True)
    page.set_input_files("#verify-img2", str(b1))
    page.click("#verify-run")
    expect(page.locator("#verify-result")).to_contain_text("Different people", timeout=60000)
    assert not errors


def test_analyze_draws_boxes_and_labels(site, identification):
    page, shots, errors = site
    photo = next(iter(identification.values()))[0]
    page.set_input_files("#analyze-img", str(photo))
    page.click("#analyze-run")
    expect(page.locator("#analyze-result li").first).to_be_visible(timeout=60000)
    text = page.text_content("#analyze-result")
    assert "y," in text and ("male" in text or "female" in text)
    assert page.evaluate("document.querySelector('#analyze-canvas').width") > 0
    page.screenshot(path=str(shots / "2-analyze.png"), full_page=True)
    assert not errors


def group_photo(identification, path: Path) -> Path:
    """Three people side by side, cropped so their faces touch the top edge."""
    people = [paths[0] for paths in list(identification.values())[:3]]
    group = Image.new("RGB", (750, 190))
    for i, photo in enumerate(people):
        group.paste(Image.open(photo).convert("RGB").crop((0, 60, 250, 250)), (250 * i, 0))
    group.save(path)
    return path


def test_group_photo_labels_are_numbered_inside_and_off_the_faces(site, identification, tmp_path):
    page, shots, errors = site
    page.set_input_files("#analyze-img", str(group_photo(identification, tmp_path / "group.jpg")))
    page.click("#analyze-run")
    expect(page.locator("#analyze-result li").nth(2)).to_be_visible(timeout=60000)
    page.screenshot(path=str(shots / "2-analyze-group.png"), full_page=True)
    width, height = page.evaluate("[document.querySelector('#analyze-canvas').width, "
                                  "document.querySelector('#analyze-canvas').height]")
    labels = json.loads(page.get_attribute("#analyze-canvas", "data-labels"))
    boxes = json.loads(page.get_attribute("#analyze-canvas", "data-boxes"))
    items = page.locator("#analyze-result li").all_text_contents()
    assert len(labels) == len(boxes) == len(items) >= 3

    def overlap(a, b):
        return min(a["x"] + a["w"], b["x"] + b["w"]) > max(a["x"], b["x"]) and \
            min(a["y"] + a["h"], b["y"] + b["h"]) > max(a["y"], b["y"])

    for i, (label, item) in enumerate(zip(labels, items)):
        assert label["n"] == i + 1 and label["text"].startswith(f"{i + 1}: ")
        assert item.startswith(f"Face {i + 1}: {label['text'].split(': ', 1)[1].rstrip('…')}")
        assert 0 <= label["x"] and label["x"] + label["w"] <= width and 0 <= label["y"]
        assert label["y"] + label["h"] <= height
        for j, box in enumerate(boxes):
            assert j == i or not overlap(label, box), f"label {i + 1} covers face {j + 1}"
        for other in labels[:i]:
            assert not overlap(label, other), f"labels {other['n']} and {i + 1} overlap"
    assert not errors


def test_enroll_search_and_erase(site, identification):
    page, shots, errors = site
    people = list(identification.items())[:3]
    for name, photos in people[:2]:
        page.fill("#enroll-identity", name)
        page.set_input_files("#enroll-img", str(photos[0]))
        page.click("#enroll-run")
        expect(page.locator("#enroll-result")).to_contain_text(name, timeout=60000)
    page.set_input_files("#search-img", str(people[0][1][1]))
    page.click("#search-run")
    expect(page.locator("#search-result")).to_contain_text(people[0][0], timeout=60000)
    page.screenshot(path=str(shots / "3-search-known.png"), full_page=True)
    page.set_input_files("#search-img", str(people[2][1][1]))
    page.click("#search-run")
    expect(page.locator("#search-result")).to_contain_text("unknown", timeout=60000)
    page.click("#list-run")
    expect(page.locator("#identities")).to_contain_text(people[0][0], timeout=60000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#identities button[aria-label='Erase {people[0][0]}']")
    expect(page.locator("#identities")).not_to_contain_text(people[0][0], timeout=60000)
    expect(page.locator("#identities")).to_contain_text(people[1][0])
    page.screenshot(path=str(shots / "4-erased.png"), full_page=True)
    assert not errors


def test_errors_are_shown(site, tmp_path):
    page, shots, errors = site
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a photo")
    page.set_input_files("#analyze-img", str(text_file))
    page.click("#analyze-run")
    expect(page.locator("#error")).to_contain_text("Bad request", timeout=60000)
    page.screenshot(path=str(shots / "5-error.png"), full_page=True)
    assert not errors
