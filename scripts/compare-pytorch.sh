#!/usr/bin/env bash
# Side-by-side speed and memory of bertbench and PyTorch + transformers on the same CPU, model,
# data and settings: fine-tune MiniLM-L6 on SST-2 sentences (batch 16, 2 threads each, dynamic
# padding) and evaluate on the SST-2 dev set, for each max length. Runs are interleaved
# (bertbench, PyTorch, bertbench, PyTorch, ...) and ratios are taken pair by pair, so that the
# machine's noise hits both sides alike.
#
# Usage: scripts/compare-pytorch.sh [ROUNDS] [MAX_TRAIN]      (defaults: 2 rounds, 480 examples)
# PRECISION=bf16 compares mixed precision on both sides (bertbench --precision bf16 against
# PyTorch's bf16 autocast, hf_reference.py --bf16); the default is f32 on both.
# Needs: ../shared/bench/hf_reference.py, ../shared/scripts/fetch-minilm, ../shared/data/sst2-*.tsv
# The Python side: scripts/bench-python (PYTHON=..., else .venv-bench with torch and transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
max_train=${2:-480}
precision=${PRECISION:-f32}
case $precision in
  f32) autocast=() ;;
  bf16) autocast=(--bf16) ;;
  *) echo "PRECISION must be f32 or bf16, not $precision" >&2; exit 2 ;;
esac
shared=${SHARED:-../shared}
out=${OUT:-target/compare-pytorch}
mkdir -p "$out"

python=$(scripts/bench-python)
model=$("$shared/scripts/fetch-minilm" | tail -n 1)
cargo build --quiet
bin=${CARGO_TARGET_DIR:-target}/debug/bertbench

for max_len in 64 128; do
  for round in $(seq "$rounds"); do
    RAYON_NUM_THREADS=2 "$bin" train --model "$model" --train "$shared/data/sst2-train.tsv" \
      --test "$shared/data/sst2-dev.tsv" --max-train "$max_train" --epochs 1 --batch-size 16 \
      --max-len "$max_len" --seed 42 --precision "$precision" --runs-dir "$out/runs" \
      --name "cmp-$max_len-$round" --json \
      | tail -n 1 > "$out/bertbench-$max_len-$round.json"
    "$python" "$shared/bench/hf_reference.py" --model "$model" \
      --train "$shared/data/sst2-train.tsv" --eval "$shared/data/sst2-dev.tsv" --epochs 1 \
      --batch-size 16 --max-len "$max_len" --seed 42 --threads 2 --max-train "$max_train" \
      "${autocast[@]}" 2>/dev/null | tail -n 1 > "$out/pytorch-$max_len-$round.json"
  done
done

python3 - "$out" "$rounds" "$precision" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print(f"{sys.argv[3]} on both sides")
print("| max len | metric | bertbench | PyTorch | ratio (bertbench / PyTorch, median of pairs) |")
print("|---|---|---|---|---|")
for max_len in (64, 128):
    pairs = []
    for r in range(1, rounds + 1):
        a = json.load(open(f"{out}/bertbench-{max_len}-{r}.json"))
        a = {**a, "accuracy": a.get("test", {}).get("accuracy")}
        b = json.load(open(f"{out}/pytorch-{max_len}-{r}.json"))
        pairs.append((a, b))
    for key, label in [("train_examples_per_sec", "train examples/s"), ("eval_examples_per_sec", "eval examples/s"),
                       ("peak_rss_mib", "peak RSS MiB"), ("accuracy", "dev accuracy")]:
        xs = [a[key] for a, _ in pairs]
        ys = [b[key] for _, b in pairs]
        ratio = statistics.median(x / y for x, y in zip(xs, ys))
        print(f"| {max_len} | {label} | {statistics.median(xs):.2f} | {statistics.median(ys):.2f} | {ratio:.2f}x |")
PY
