#!/usr/bin/env bash
# Tagging accuracy of bertbench beside PyTorch + transformers on the same data and settings:
# MiniLM-L6 fine-tuned on Universal NER English-EWT (../shared/data/uner-en-ewt-dev.iob2, split
# by sentence: every fifth into the test file, 400; the other 1601 train), 2 epochs, lr 5e-5,
# batch 16, max length 128, no warmup, no weight decay (as ../shared/bench/hf_token_reference.py
# trains), no validation split, the last epoch's model, f32 on both sides, test entity F1 for
# each seed.
#
# Paired (the default): for each seed both trainers start from the same head (drawn by
# transformers, N(0, 0.02)) and visit the same batches in the same order (bertbench's, from
# `cargo run --example epoch_order`), the reference replayed by scripts/token-parity-reference.py
# with the shared reference's own data, batching and scoring code. The two runs of a seed then
# differ only in their dropout masks and arithmetic, and the mean of the per-seed differences
# measures the trainers, not the luck of the draw (the head and the order alone move F1 by
# ±3 points from seed to seed). UNPAIRED=1 runs each side as it would run alone: bertbench
# drawing its own head and order, ../shared/bench/hf_token_reference.py its own.
#
# Usage: scripts/compare-token-parity.sh [SEEDS...]        (default seeds 1 2 3 4 5; ~4 min each)
# MODEL=DIR uses another model directory (e.g. a copy with dropout set to 0).
# Needs: ../shared/bench/hf_token_reference.py, ../shared/scripts/fetch-minilm, the UNER file.
# The Python side is installed into .venv-bench (torch and transformers from PyPI), or give
# PYTHON=/path/to/python with both.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
out=${OUT:-target/compare-token-parity}
seeds=("$@"); [[ ${#seeds[@]} -gt 0 ]] || seeds=(1 2 3 4 5)
mkdir -p "$out"

python=$(scripts/bench-python)
model=${MODEL:-$("$shared/scripts/fetch-minilm" | tail -n 1)}
cargo build --locked --quiet --bin bertbench --example epoch_order
bin=${CARGO_TARGET_DIR:-target}/debug/bertbench
order=${CARGO_TARGET_DIR:-target}/debug/examples/epoch_order

"$python" - "$shared/data/uner-en-ewt-dev.iob2" "$out" <<'EOF'
import sys
src, out = sys.argv[1], sys.argv[2]
blocks = [b for b in open(src, encoding="utf-8").read().split("\n\n") if b.strip()]
with open(f"{out}/train.iob2", "w") as train, open(f"{out}/test.iob2", "w") as test:
    for i, b in enumerate(blocks):
        (test if i % 5 == 4 else train).write(b.strip("\n") + "\n\n")
EOF

# Sentences are blank-line separated blocks; the replayed order must cover exactly these.
train_sentences=$(awk 'BEGIN { RS = "" } END { print NR }' "$out/train.iob2")
for seed in "${seeds[@]}"; do
  start=$model
  if [[ -z ${UNPAIRED:-} ]]; then
    start=$out/init-$seed
    [[ -d $start ]] || SHARED=$shared "$python" scripts/token-parity-reference.py init --model "$model" \
      --train "$out/train.iob2" --seed "$seed" --out "$start" 2>/dev/null
    "$order" "$train_sentences" "$seed" 2 > "$out/order-$seed.json"
  fi
  RAYON_NUM_THREADS=2 "$bin" train --model "$start" --head token-cls --train "$out/train.iob2" \
    --test "$out/test.iob2" --valid-ratio 0 --epochs 2 --lr 5e-5 --batch-size 16 --max-len 128 \
    --warmup-ratio 0 --weight-decay 0 --seed "$seed" --precision f32 --runs-dir "$out/runs" \
    --name "uner-$seed" --json | tail -n 1 > "$out/bertbench-$seed.json"
  if [[ -z ${UNPAIRED:-} ]]; then
    SHARED=$shared "$python" scripts/token-parity-reference.py train --model "$start" \
      --train "$out/train.iob2" --eval "$out/test.iob2" --order "$out/order-$seed.json" --lr 5e-5 \
      --batch-size 16 --max-len 128 --seed "$seed" --threads 2 2>/dev/null | tail -n 1 > "$out/pytorch-$seed.json"
  else
    "$python" "$shared/bench/hf_token_reference.py" --model "$model" --train "$out/train.iob2" \
      --eval "$out/test.iob2" --epochs 2 --lr 5e-5 --batch-size 16 --max-len 128 --seed "$seed" \
      --threads 2 2>/dev/null | tail -n 1 > "$out/pytorch-$seed.json"
  fi
done

python3 - "$out" "${seeds[@]}" <<'EOF'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
ours, theirs = [], []
for s in seeds:
    a = json.load(open(f"{out}/bertbench-{s}.json"))
    b = json.load(open(f"{out}/pytorch-{s}.json"))
    ours.append(a["test"]["entity_f1"]); theirs.append(b["entity_f1"])
    print(f"seed {s}: bertbench {ours[-1]:.4f}  PyTorch {theirs[-1]:.4f}")
sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
print(f"test entity F1 over {len(seeds)} seeds: bertbench {statistics.mean(ours):.4f} ± {sd(ours):.4f}, "
      f"PyTorch {statistics.mean(theirs):.4f} ± {sd(theirs):.4f}, "
      f"difference {statistics.mean(ours) - statistics.mean(theirs):+.4f}")
diffs = [a - b for a, b in zip(ours, theirs)]
print(f"per-seed difference (bertbench - PyTorch): {statistics.mean(diffs):+.4f} ± {sd(diffs):.4f}")
EOF
