#!/usr/bin/env python3
"""Check that a bertbench pretraining run's next-sentence head means in transformers what it
meant in bertbench: BertForPreTraining's class 0 = "B continues A", class 1 = "B is random".

Loads RUN/model as BertForPreTraining and scores segment pairs built from a text corpus
(documents separated by blank lines): a run of sentences and the run after it
(continuations), and a run and one from another document (random pairs, as bertbench's
pretraining draws them).
Prints, under transformers' convention, the accuracy on each kind and the mean probability of
class 0. A model trained with the right labels scores above chance on both; trained with the
labels flipped, below.

Setup: python3 -m pip install torch transformers
Usage: check-nsp.py RUN_DIR CORPUS.txt [--pairs 400] [--max-len 128] [--seed 0]
"""
import argparse, os, random, re

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import AutoTokenizer, BertForPreTraining


def sentences(doc):
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", doc) if len(s.split()) >= 4]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("corpus")
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sentences", type=int, default=3,
                    help="sentences per segment (bertbench pairs runs of sentences)")
    args = ap.parse_args()
    model_dir = os.path.join(args.run, "model")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = BertForPreTraining.from_pretrained(model_dir).eval()
    docs = [sentences(d) for d in open(args.corpus, encoding="utf-8").read().split("\n\n")]
    k = args.sentences
    docs = [d for d in docs if len(d) >= 2 * k]
    rng = random.Random(args.seed)
    segment = lambda doc, i: " ".join(doc[i:i + k])
    pairs = []  # (a, b, label under transformers' convention)
    for _ in range(args.pairs):
        d = rng.randrange(len(docs))
        i = rng.randrange(len(docs[d]) - 2 * k + 1)
        if rng.random() < 0.5:
            pairs.append((segment(docs[d], i), segment(docs[d], i + k), 0))
        else:
            other = docs[rng.choice([j for j in range(len(docs)) if j != d])]
            pairs.append((segment(docs[d], i), segment(other, rng.randrange(len(other) - k + 1)), 1))
    right = {0: 0, 1: 0}
    seen = {0: 0, 1: 0}
    p_continues = {0: 0.0, 1: 0.0}
    with torch.no_grad():
        for start in range(0, len(pairs), 32):
            chunk = pairs[start:start + 32]
            enc = tok([a for a, _, _ in chunk], [b for _, b, _ in chunk], padding=True,
                      truncation=True, max_length=args.max_len, return_tensors="pt")
            probs = model(**enc).seq_relationship_logits.softmax(-1)
            for (_, _, label), p in zip(chunk, probs):
                seen[label] += 1
                right[label] += int(int(p.argmax()) == label)
                p_continues[label] += float(p[0])
    for label, name in [(0, "continuations"), (1, "random pairs")]:
        n = max(seen[label], 1)
        print(f"{name:<14} {seen[label]:>4}  accuracy {right[label] / n:.3f}  "
              f"mean P(class 0 = continues) {p_continues[label] / n:.3f}")
    total = sum(right.values()) / max(sum(seen.values()), 1)
    print(f"overall accuracy under transformers' labels: {total:.3f}")


if __name__ == "__main__":
    main()
