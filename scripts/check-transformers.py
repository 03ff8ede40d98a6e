#!/usr/bin/env python3
"""Check that a bertbench run's model/ loads in Hugging Face transformers and predicts the same.

Loads RUN/model with the Auto class its config names (…ForSequenceClassification for
single-label, multi-label and regression heads, …ForTokenClassification for tagging, of any
family bertbench saves: BERT, RoBERTa, DistilBERT, ELECTRA), runs it over the examples in
RUN/predictions.csv and compares with what bertbench recorded:

  seq-cls      largest difference of log-probabilities, share of identical predicted labels
  multi-label  largest difference of label probabilities, share of identical label sets
  regression   largest difference of predicted values
  token-cls    share of sentences whose predicted tags are all identical

Sentence pairs (texts recorded as "a [SEP] b") are encoded as pairs.

Setup: python3 -m pip install torch transformers
Usage: check-transformers.py RUN_DIR... [--max-len 128] [--split test]
(one JSON line per run; scripts/check-families.sh trains a run of each family and head)
"""
import argparse, csv, json, math, os, sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer


def head_of(config):
    if any(a.endswith("TokenClassification") for a in (config.architectures or [])):
        return "token-cls"
    return {"multi_label_classification": "multi-label", "regression": "regression"}.get(
        config.problem_type, "seq-cls")


def encode(tok, rows, max_len):
    texts = [r["text"].split(" [SEP] ", 1) for r in rows]
    if all(len(t) == 2 for t in texts):
        return tok([t[0] for t in texts], [t[1] for t in texts], padding=True, truncation=True,
                   max_length=max_len, return_tensors="pt")
    return tok([r["text"] for r in rows], padding=True, truncation=True, max_length=max_len,
               return_tensors="pt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--split", default=None, help="only rows of this split")
    a = ap.parse_args()
    for run in a.runs:
        check(run, a)


def check(run, a):
    model_dir = os.path.join(run, "model")
    config = AutoConfig.from_pretrained(model_dir)
    head = head_of(config)
    # Split words through a byte-level tokenizer need a space before each, as in running text.
    byte_level = config.model_type == "roberta" and head == "token-cls"
    tok = AutoTokenizer.from_pretrained(model_dir, **({"add_prefix_space": True} if byte_level else {}))
    auto = AutoModelForTokenClassification if head == "token-cls" else AutoModelForSequenceClassification
    model = auto.from_pretrained(model_dir).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    with open(os.path.join(run, "predictions.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if a.split is None or r["split"] == a.split]
    # Saved with the model by bertbench (tuned or configured); transformers keeps unknown keys.
    threshold = getattr(config, "bertbench_threshold", 0.5)
    worst, same, tagged = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            chunk = rows[i:i + 64]
            if head == "token-cls":
                words = [r["text"].split(" ") for r in chunk]
                enc = tok(words, is_split_into_words=True, padding=True, truncation=True,
                          max_length=a.max_len, return_tensors="pt")
                best = model(**enc).logits.argmax(-1)
                for b, r in enumerate(chunk):
                    tags, seen = ["O"] * len(words[b]), set()
                    for t, w in enumerate(enc.word_ids(b)):
                        if w is not None and w not in seen:
                            seen.add(w)
                            tags[w] = labels[int(best[b, t])]
                    same += " ".join(tags) == r["predicted"]
                    tagged += sum(t != "O" for t in tags)
                continue
            out = model(**encode(tok, chunk, a.max_len)).logits
            for r, o in zip(chunk, out):
                if head == "regression":
                    worst = max(worst, abs(float(o[0]) - float(r["predicted"])))
                    same += abs(float(o[0]) - float(r["predicted"])) < 1e-2 * max(1.0, abs(float(r["predicted"])))
                elif head == "multi-label":
                    probs = torch.sigmoid(o).tolist()
                    worst = max(worst, max(abs(p - float(r[f"p_{l}"])) for p, l in zip(probs, labels)))
                    predicted = "|".join(l for p, l in zip(probs, labels) if p >= threshold)
                    same += predicted == r["predicted"]
                else:
                    lp = torch.log_softmax(o, dim=-1).tolist()
                    ours = [math.log(max(float(r[f"p_{l}"]), 1e-30)) for l in labels]
                    worst = max(worst, max(abs(x - y) for x, y in zip(ours, lp)))
                    same += labels[max(range(len(lp)), key=lp.__getitem__)] == r["predicted"]
    print(json.dumps({"run": run, "architecture": (config.architectures or ["?"])[0], "head": head,
                      "rows": len(rows), "max_abs_diff": None if head == "token-cls" else worst,
                      **({"words_tagged_as_entities": tagged} if head == "token-cls" else {}),
                      "same_prediction": same / max(1, len(rows)), "labels": labels}))


if __name__ == "__main__":
    sys.exit(main())
