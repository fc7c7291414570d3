"""Load on the web service: /v1/verify with two 250x250 LFW photos.

    python benchmarks/server_load.py --images ../shared/data/lfw-mini/images [--workers 2] [--seconds 60]
        [--memory-requests 10000] [--model sface --detector yunet]

Starts ``prosopo serve`` (API keys on, rate limit off) on loopback, then:
1. latency: 100 requests one at a time (median, p99);
2. throughput: 8 concurrent clients for ``--seconds`` (requests/s, errors, median and p99 latency);
3. memory: ``--memory-requests`` requests from 8 clients, the server's resident memory (all its
   processes) sampled as they go; flat means no leak.
Writes benchmarks/results/server_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_server import Server  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return sum(int(x) for x in out.stdout.split()) / 1024


FORM: dict[str, str] = {}  # extra form fields of every request (--model, --detector)


def pairs(images: Path) -> list[tuple[bytes, bytes]]:
    people = sorted(p for p in images.iterdir() if p.is_dir())
    out = []
    for person in people[:20]:
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 2:
            out.append((photos[0].read_bytes(), photos[1].read_bytes()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--memory-requests", type=int, default=10000)
    parser.add_argument("--model", help="recognizer to ask for (default: the server's default)")
    parser.add_argument("--detector", help="detector to ask for (default: the server's default)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "server_load.json")
    args = parser.parse_args()
    FORM.update({k: v for k, v in (("model", args.model), ("detector", args.detector)) if v})
    work = pairs(args.images)
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"prosopo-load-{os.getpid()}"
    server = Server(data, "--workers", str(args.workers), "--rate", "0")
    token = server.key("load")
    headers = {"Authorization": f"Bearer {token}"}
    result: dict = {"workers": args.workers, "clients": args.clients, "pairs": len(work), "form": FORM}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            client.get("/ready")
            for a, b in work[:4]:  # warm every worker
                client.post("/v1/verify", files={"img1": a, "img2": b}, data=FORM)
            times = []
            for i in range(100):
                a, b = work[i % len(work)]
                start = time.perf_counter()
                r = client.post("/v1/verify", files={"img1": a, "img2": b}, data=FORM)
                times.append(time.perf_counter() - start)
                assert r.status_code == 200, r.text
        result["sequential"] = {"requests": 100, "p50_ms": round(1000 * float(np.median(times)), 1),
                                "p99_ms": round(1000 * float(np.percentile(times, 99)), 1)}
        print(f"one at a time: p50 {result['sequential']['p50_ms']} ms, p99 {result['sequential']['p99_ms']} ms")

        def hammer(stop_after: float | None, total: int | None, samples: list | None = None) -> dict:
            lock = threading.Lock()
            latencies, errors, count = [], [], [0]
            deadline = time.perf_counter() + stop_after if stop_after else None

            def client_loop(index: int) -> None:
                with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                    i = index
                    while True:
                        with lock:
                            if (deadline and time.perf_counter() > deadline) or (total and count[0] >= total):
                                return
                            count[0] += 1
                            n = count[0]
                        a, b = work[i % len(work)]
                        i += args.clients
                        start = time.perf_counter()
                        try:
                            r = c.post("/v1/verify", files={"img1": a, "img2": b}, data=FORM)
                            ok = r.status_code == 200
                        except httpx.HTTPError as exc:
                            ok, r = False, exc
                        with lock:
                            latencies.append(time.perf_counter() - start)
                            if not ok:
                                errors.append(str(getattr(r, "status_code", r)))
                        if samples is not None and n % 500 == 0:
                            samples.append((n, round(rss_mb(server.proc.pid), 1)))

            start = time.perf_counter()
            threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            return {"requests": len(latencies), "seconds": round(elapsed, 1),
                    "requests_per_s": round(len(latencies) / elapsed, 1), "errors": len(errors),
                    "error_kinds": sorted(set(errors))[:5],
                    "p50_ms": round(1000 * float(np.median(latencies)), 1),
                    "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1)}

        result["concurrent"] = hammer(args.seconds, None)
        c = result["concurrent"]
        print(f"{args.clients} clients for {c['seconds']} s: {c['requests_per_s']} req/s, {c['errors']} errors, "
              f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms")
        if args.memory_requests:
            samples = [(0, round(rss_mb(server.proc.pid), 1))]
            run = hammer(None, args.memory_requests, samples)
            samples.append((run["requests"], round(rss_mb(server.proc.pid), 1)))
            result["memory"] = {**run, "rss_mb": samples}
            first = next((mb for n, mb in samples if n >= 1000), samples[0][1])
            print(f"memory over {run['requests']} requests: {samples[0][1]} MB at start, {first} MB after 1,000, "
                  f"{samples[-1][1]} MB at the end ({run['errors']} errors)")
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
