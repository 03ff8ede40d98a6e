#!/usr/bin/env python3
"""PyTorch + transformers token classification, replaying bertbench's run: the same batches in
the same order, from the same initial head, so that the two trainers differ only in their
dropout masks and arithmetic. The data reading, sub-token labelling, batching and entity
scoring are ../shared/bench/hf_token_reference.py's own (imported, not copied); the loop is its
loop with the order given.

  token-parity-reference.py init  --model DIR --train IOB2 --seed N --out DIR
      a copy of the model with a token head seeded by transformers (N(0, 0.02), as both
      trainers draw it), labelled in bertbench's order (O, then B-/I- of each type by name);
      bertbench reuses it as it is.
  token-parity-reference.py train --model DIR --train IOB2 --eval IOB2 --order JSON [...]
      fine-tunes (AdamW, linear decay, clipping 1.0, as the reference) visiting the training
      sentences in the order JSON gives (one list of indices per epoch, from
      `cargo run --example epoch_order`); prints one JSON object as the reference does.
"""
import argparse, importlib.util, json, os, random, shutil, sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import BertForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup

here = os.path.dirname(os.path.abspath(__file__))
shared = os.environ.get("SHARED", os.path.join(here, "..", "..", "shared"))
spec = importlib.util.spec_from_file_location("hf_token_reference", os.path.join(shared, "bench", "hf_token_reference.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def our_tag_order(sentences):
    """bertbench's tag set (LabelSet::from_tags): O, then B- and I- of every type seen, by type."""
    kinds = sorted({t.split("-", 1)[1] for _, tags in sentences for t in tags if "-" in t})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]


def init(a):
    names = our_tag_order(ref.read_iob2(a.train))
    torch.manual_seed(a.seed)
    model = BertForTokenClassification.from_pretrained(a.model, num_labels=len(names),
                                                       id2label=dict(enumerate(names)),
                                                       label2id={n: i for i, n in enumerate(names)})
    model.save_pretrained(a.out)
    for f in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        if os.path.exists(os.path.join(a.model, f)):
            shutil.copy(os.path.join(a.model, f), a.out)


def train(a):
    torch.set_num_threads(a.threads); random.seed(a.seed); torch.manual_seed(a.seed)
    train_set, eval_set = ref.read_iob2(a.train), ref.read_iob2(a.eval)
    model = BertForTokenClassification.from_pretrained(a.model)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    ids = {n: i for i, n in enumerate(names)}
    tok = AutoTokenizer.from_pretrained(a.model)
    orders = json.load(open(a.order))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    steps = sum((len(o) + a.batch_size - 1) // a.batch_size for o in orders)
    sched = get_linear_schedule_with_warmup(opt, 0, steps)
    model.train()
    for order in orders:
        for i in range(0, len(order), a.batch_size):
            enc, y = ref.encode(tok, [train_set[j] for j in order[i:i + a.batch_size]], ids, a.max_len)
            model(**enc, labels=y).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
    model.eval(); tp = fp = fn = 0
    with torch.no_grad():
        for i in range(0, len(eval_set), 64):
            batch = eval_set[i:i + 64]
            enc, _ = ref.encode(tok, [(w, ["O"] * len(w)) for w, _ in batch], ids, a.max_len)
            pred = model(**enc).logits.argmax(-1)
            for b, (words, gold) in enumerate(batch):
                guess, prev = ["O"] * len(words), None
                for j, wid in enumerate(enc.word_ids(b)):
                    if wid is not None and wid != prev:
                        guess[wid] = names[pred[b, j]]
                    prev = wid
                g, p = ref.chunks([t if t in ids else "O" for t in gold]), ref.chunks(guess)
                tp += len(g & p); fp += len(p - g); fn += len(g - p)
    prec = tp / (tp + fp) if tp + fp else 0.0; rec = tp / (tp + fn) if tp + fn else 0.0
    print(json.dumps({"seed": a.seed, "entity_precision": round(prec, 4), "entity_recall": round(rec, 4),
                      "entity_f1": round(2 * prec * rec / (prec + rec) if prec + rec else 0.0, 4)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["init", "train"])
    ap.add_argument("--model", required=True); ap.add_argument("--train", required=True)
    ap.add_argument("--eval"); ap.add_argument("--order"); ap.add_argument("--out")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=128); ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=42); ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.command == "init":
        init(a)
    else:
        if not (a.eval and a.order):
            ap.error("train needs --eval and --order")
        train(a)


if __name__ == "__main__":
    sys.exit(main())
