#!/usr/bin/env bash
# Full peer benchmark on LFW: embeddings for every image pairs.txt needs (accuracy runs) and a
# clean timing run on a fixed random 200-image subset (nothing else running).
#
#   bash benchmarks/peers/run_lfw.sh [OUTDIR]          (default ~/bench-out)
#
# Env: PEERS_VENV (default ~/peers-venv), LFW_DIR, LFW_PAIRS, PEERS (space-separated list),
#      TIMING_THREADS (space-separated --threads values for the timing runs, default "0 1"),
#      PARALLEL=1 to run the accuracy passes two at a time, one per CPU (faster, but their
#      per-image times are then not clean: the cores share caches/memory bandwidth).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HOME/bench-out}"
PEERS_VENV="${PEERS_VENV:-$HOME/peers-venv}"
LFW_DIR="${LFW_DIR:-$HOME/datasets/lfw/data/lfw-deepfunneled}"
LFW_PAIRS="${LFW_PAIRS:-$HOME/datasets/lfw/pairs.txt}"
PEERS="${PEERS:-face_recognition deepface-sface deepface-dlib}"
TIMING_THREADS="${TIMING_THREADS:-0 1}"
PARALLEL="${PARALLEL:-0}"
PY="$PEERS_VENV/bin/python"
mkdir -p "$OUT"

"$PY" "$HERE/lfw_accuracy.py" images --pairs "$LFW_PAIRS" --root "$LFW_DIR" > "$OUT/lfw_pair_images.txt"
"$PY" - "$OUT" <<'EOF'
import random, sys
out = sys.argv[1]
L = [l.strip() for l in open(f"{out}/lfw_pair_images.txt") if l.strip()]
random.Random(0).shuffle(L)
open(f"{out}/lfw_timing200.txt", "w").write("\n".join(L[:200]) + "\n")
EOF

# accuracy passes (all ~7,700 images per peer)
i=0
for peer in $PEERS; do
  cmd=("$PY" "$HERE/worker.py" --peer "$peer" --images "$OUT/lfw_pair_images.txt"
       --out "$OUT/full_$peer.json")
  if [ "$PARALLEL" = "1" ]; then
    taskset -c $((i % 2)) "${cmd[@]}" --threads 1 > "$OUT/full_$peer.log" 2>&1 &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then wait; fi
  else
    "${cmd[@]}" > "$OUT/full_$peer.log" 2>&1
  fi
done
wait

# clean timing runs, one at a time
for t in $TIMING_THREADS; do
  for peer in $PEERS; do
    "$PY" "$HERE/worker.py" --peer "$peer" --images "$OUT/lfw_timing200.txt" --warmup 3 \
      --threads "$t" --out "$OUT/timing200_${peer}_t$t.json" 2> "$OUT/timing200_${peer}_t$t.log"
    tail -1 "$OUT/timing200_${peer}_t$t.log"
  done
done

fulls=()
for peer in $PEERS; do fulls+=("$OUT/full_$peer.json"); done
"$PY" "$HERE/lfw_accuracy.py" eval "${fulls[@]}" --pairs "$LFW_PAIRS" --fixed euclidean=0.6 \
  --json "$OUT/lfw_accuracy.json" | tee "$OUT/lfw_accuracy.txt"
