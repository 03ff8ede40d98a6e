#!/usr/bin/env bash
# Every encoder family, fine-tuned by bertbench and loaded back by transformers: each tiny model
# of tests/fixtures/families (BERT, RoBERTa, DistilBERT, ELECTRA) is fine-tuned with a sequence
# head and a token head on toy data, then scripts/check-transformers.py loads each saved
# model/ with transformers' Auto classes and compares its predictions with bertbench's.
# Prints one JSON line per run: the architecture transformers built, the largest difference of
# log-probabilities (sequence heads), the share of identical predictions and, for tagging, how
# many words were tagged as entities (so that agreement on all-"O" output would show).
#
# Usage: scripts/check-families.sh            (about 15 s on 2 cores, after the build)
# The Python side is installed into .venv-bench (torch and transformers from PyPI), or give
# PYTHON=/path/to/python with both.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(scripts/bench-python)
cargo build --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/debug/bertbench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Toy data in the fixtures' vocabulary: a sentence's sentiment, and its sentiment words tagged.
"$python" - "$work" <<'EOF'
import random, sys
out = sys.argv[1]
pos, neg = "great excellent wonderful good superb".split(), "awful terrible boring bad dreadful".split()
filler = "the movie film was is a this plot acting and really quite story".split()
for split, n, seed in (("train", 240, 1), ("valid", 80, 2)):
    rng = random.Random(seed)
    with open(f"{out}/{split}.csv", "w") as csv, open(f"{out}/{split}.iob2", "w") as iob:
        csv.write("text,label\n")
        for i in range(n):
            words = [(rng.choice(filler), "O") for _ in range(rng.randint(3, 8))]
            kind = "POS" if i % 2 == 0 else "NEG"
            words.insert(rng.randint(0, len(words)), (rng.choice(pos if kind == "POS" else neg), "B-" + kind))
            csv.write(" ".join(w for w, _ in words) + f",{kind.lower()}\n")
            iob.write("".join(f"{w}\t{t}\n" for w, t in words) + "\n")
EOF

runs=()
for family in bert roberta distilbert electra; do
  for head in seq-cls token-cls; do
    task=${head%-cls}
    ext=csv; [[ $head == token-cls ]] && ext=iob2
    # From the family's own initialisation (--from-scratch): the fixtures' O(1) weights, drawn
    # to make misplaced tensors show, saturate attention and would leave every tag "O".
    epochs=10; [[ $head == token-cls ]] && epochs=30
    log="$work/$family-$head.log"
    "$bin" train --model "tests/fixtures/families/$family-$task" --from-scratch --head "$head" \
      --train "$work/train.$ext" --valid "$work/valid.$ext" --epochs "$epochs" --lr 2e-3 \
      --batch-size 16 --max-len 32 --runs-dir "$work/runs" --name "$family-$head" >"$log" 2>&1 \
      || { cat "$log"; exit 1; }
    runs+=("$(ls -d "$work"/runs/*"$family-$head"* | head -n 1)")
  done
done
HF_HUB_OFFLINE=1 "$python" scripts/check-transformers.py --max-len 32 "${runs[@]}"
