#!/usr/bin/env python3
"""Check that a bertbench run's model/ loads in Hugging Face transformers and predicts the same.

Loads RUN/model with AutoModelForSequenceClassification + AutoTokenizer, runs it over the texts
in RUN/predictions.csv, and compares with the probabilities bertbench recorded: prints the
largest absolute difference of log-probabilities (logits up to a per-row constant) and the
share of identical predicted labels.

Setup: python3 -m pip install torch transformers
Usage: check-transformers.py RUN_DIR [--max-len 128] [--split test]
"""
import argparse, csv, json, math, os, sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--split", default=None, help="only rows of this split")
    a = ap.parse_args()
    model_dir = os.path.join(a.run, "model")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    with open(os.path.join(a.run, "predictions.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if a.split is None or r["split"] == a.split]
    worst, same = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            chunk = rows[i:i + 64]
            enc = tok([r["text"] for r in chunk], padding=True, truncation=True,
                      max_length=a.max_len, return_tensors="pt")
            logp = torch.log_softmax(model(**enc).logits, dim=-1)
            for r, lp in zip(chunk, logp):
                ours = [math.log(max(float(r[f"p_{l}"]), 1e-30)) for l in labels]
                worst = max(worst, max(abs(x - y) for x, y in zip(ours, lp.tolist())))
                same += labels[int(lp.argmax())] == r["predicted"]
    print(json.dumps({"rows": len(rows), "max_abs_logprob_diff": worst,
                      "same_prediction": same / max(1, len(rows)), "labels": labels}))


if __name__ == "__main__":
    sys.exit(main())
