"""Live camera: one session over the WebSocket of a real server, frames/s and round trip.

    python benchmarks/live.py [--runs 3] [--gallery-size 1000] [--passes 3] [--live-fps 200] \
        [--out benchmarks/results/live.json]

Starts ``prosopo serve`` on loopback (API keys on, the key's request rate
unlimited, the live frame-rate cap raised with ``--live-fps`` so that it
does not limit the measurement) whose gallery holds the synthetic clip's
three enrolled people (other photos of them) and random identities up to
``--gallery-size``, as in benchmarks/video.py; the clip's fourth person is
a stranger. A client (the ``websockets`` library) sends the synthetic
clip's frames (:func:`prosopo.streams.synthetic.synthetic_clip`, 640x360,
as 80% JPEGs; played forward and back, ``--passes`` times) with one frame
in flight: the next is sent when the previous one is answered. For each
session kind (no gallery; the gallery; the gallery with ``every: 2``) and
each of ``--runs`` sessions: frames/s sustained over the session, round
trip p50/p90 (send to answer), answers that were not results, and frames
whose result named a track as someone other than the person under it
(a detected track's box at IoU >= 0.5 with a true face; must be 0).
Medians over the runs. The server's tracker sizes its memory in frames
from the cap, so a cap far above the real frame rate keeps tracks a little
longer than a camera session would.

Client and server share the machine: the JSON records its cores and load
(``uptime`` before and after); run it with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from websockets.sync.client import connect

from prosopo.evaluate import read_identification
from prosopo.streams.synthetic import SyntheticClip, synthetic_clip
from prosopo.types import Box

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from test_server import Server
from video import DATA, build_gallery

KINDS = (("no gallery", "/v1/live", 1), ("gallery", "/v1/galleries/bench/live", 1),
         ("gallery, every 2", "/v1/galleries/bench/live", 2))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def wrong_names(reply: dict, truth: list[tuple[str, Box, bool]]) -> int:
    """Detected tracks of a result named as someone other than the true face under them."""
    wrong = 0
    for track in reply["tracks"]:
        if track["identity"] and track["detected"]:
            box = Box(**track["box"])
            under = [name for name, true, _ in truth if true.iou(box) >= 0.5]
            wrong += bool(under) and under[0] != track["identity"]
    return wrong


def session(url: str, key: str, every: int, jpegs: list[bytes], clip: SyntheticClip, order: list[int]) -> dict:
    """One session sending the frames of ``order``, one in flight."""
    answers: dict[str, int] = {}
    times, named = [], set()
    wrong_frames = 0
    with connect(url, open_timeout=60) as ws:
        ws.send(json.dumps({"type": "start", "key": key, "every": every}))
        ready = json.loads(ws.recv(timeout=120))
        assert ready["type"] == "ready", ready
        started = time.perf_counter()
        for seq, index in enumerate(order, start=1):
            sent = time.perf_counter()
            ws.send(jpegs[index])
            reply = json.loads(ws.recv(timeout=120))
            times.append(time.perf_counter() - sent)
            assert reply.get("seq") == seq, reply
            answer = f"dropped: {reply['reason']}" if reply["type"] == "dropped" else reply["type"]
            answers[answer] = answers.get(answer, 0) + 1
            if reply["type"] == "result":
                wrong_frames += wrong_names(reply, clip.truth[index]) > 0
                named |= {t["identity"] for t in reply["tracks"] if t["identity"]}
        elapsed = time.perf_counter() - started
        ws.send(json.dumps({"type": "stop"}))
    ms = 1000 * np.array(times)
    return {"frames": len(order), "fps": round(len(order) / elapsed, 2), "p50_ms": round(float(np.median(ms)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1), "answers": answers, "wrong_name_frames": wrong_frames,
            "named": sorted(named)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gallery-size", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=3, help="times the clip is played per session (forward, back)")
    parser.add_argument("--live-fps", type=float, default=200, help="the server's live frame-rate cap")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "live.json")
    args = parser.parse_args()
    lfw = DATA / "lfw-mini"
    if not lfw.is_dir():
        raise SystemExit(f"needs {lfw} (see ../shared/data/README.md)")
    photos = read_identification(lfw)
    names = sorted(photos)[:4]
    clip = synthetic_clip([(n, photos[n][0]) for n in names])
    enrolled = set(names[:3])
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
             for f in clip.frames]
    n = len(jpegs)
    order = [i if p % 2 == 0 else n - 1 - i for p in range(args.passes) for i in range(n)]
    result: dict = {"cores": os.cpu_count(), "load_before": uptime(), "runs": args.runs,
                    "gallery_identities": args.gallery_size, "enrolled": sorted(enrolled), "stranger": names[3],
                    "frames_per_session": len(order), "frame": "640x360 JPEG, quality 80",
                    "jpeg_bytes_median": int(statistics.median(len(j) for j in jpegs)),
                    "server": {"live_fps_cap": args.live_fps, "rate": "unlimited", "workers": 1}, "kinds": {}}
    with tempfile.TemporaryDirectory(prefix="prosopo-live-") as tmp:
        data = Path(tmp)
        build_gallery(data / "galleries" / "bench", {name: photos[name] for name in sorted(enrolled)},
                      args.gallery_size, set())
        server = Server(data, "--rate", "0", "--live-fps", f"{args.live_fps:g}")
        try:
            key = server.key("bench")
            url = server.url.replace("http://", "ws://")
            session(url + KINDS[1][1], key, 1, jpegs, clip, list(range(n)))  # warm-up: models and gallery load
            for kind, path, every in KINDS:
                runs = [session(url + path, key, every, jpegs, clip, order) for _ in range(args.runs)]
                result["kinds"][kind] = {
                    "every": every,
                    **{m: statistics.median(r[m] for r in runs) for m in ("fps", "p50_ms", "p90_ms")},
                    "wrong_name_frames": sum(r["wrong_name_frames"] for r in runs),
                    "not_results": sum(r["frames"] - r["answers"].get("result", 0) for r in runs),
                    "named": sorted({name for r in runs for name in r["named"]}), "sessions": runs}
        finally:
            server.stop()
    result["load_after"] = uptime()
    print(f"live camera, one session, one frame in flight: {result['frames_per_session']} frames of 640x360 per "
          f"session, {args.gallery_size}-identity gallery, median of {args.runs} runs, {result['cores']} cores")
    print(f"load before: {result['load_before']}\nload after:  {result['load_after']}")
    print(f"{'session':<20}{'frames/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'not results':>13}{'wrong names':>13}  named")
    for kind, r in result["kinds"].items():
        print(f"{kind:<20}{r['fps']:>10}{r['p50_ms']:>9}{r['p90_ms']:>9}{r['not_results']:>13}"
              f"{r['wrong_name_frames']:>13}  {', '.join(r['named']) or '-'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
