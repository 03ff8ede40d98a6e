#!/usr/bin/env python3
"""Tiny random models of each encoder family, built and run by Hugging Face transformers, for
bertbench's offline tests (tests/families.rs): BERT, RoBERTa, DistilBERT, ELECTRA, each with a
sequence head, a token head and a masked-LM head.

Each model directory is what `save_pretrained` writes (config.json, model.safetensors, the
tokenizer's files) plus expected.json: fixed inputs, the ids transformers' tokenizer gives them,
and the logits transformers' model gives — what bertbench must reproduce (max abs difference
< 1e-4). Weights are drawn wider than a fresh model's (every bias and layer-norm parameter
too), so that a misplaced or misnamed tensor changes the logits visibly.

Usage: make-family-fixtures.py [OUT_DIR]   (default: tests/fixtures/families)
Needs: pip install torch transformers tokenizers (about 30 s on 2 cores; writes ~1 MB).
"""
import json, os, shutil, sys, tempfile

import torch
import transformers as tf
from tokenizers import ByteLevelBPETokenizer

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "families")
WORDS = ("the movie film was is a this plot acting and really quite story very great excellent wonderful "
         "good superb awful terrible boring bad dreadful . ,").split()
TEXTS = ["the movie was great .", "a really boring plot , and bad acting", "superb", "the film is quite wonderful ."]
PAIRS = [("the movie was great .", "the plot is boring"), ("superb acting", "really bad .")]
# Words as a tagging dataset gives them (one unknown to the vocabulary: "zebra").
TAGGED = [["the", "movie", "was", "great", "."], ["zebra", "acting", "and", "plot"], ["wonderful"]]
TOKEN_LABELS = ["O", "B-X", "I-X", "B-Y"]
SEQ_LABELS = ["neg", "neutral", "pos"]
SIZE = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)


def wordpiece_dir(tmp, cls):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ly"]
    return cls(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)


def bpe_dir(tmp):
    bpe = ByteLevelBPETokenizer()
    # Each word at the start of a text and after a space (its "Ġ" form), with room for the merges
    # of both: most words become one token, as in a real RoBERTa vocabulary ("zebra" does not).
    corpus = WORDS + [" ".join(WORDS)] * 4 + TEXTS + [a + " " + b for a, b in PAIRS]
    bpe.train_from_iterator(corpus, vocab_size=600, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(tmp)
    return tf.RobertaTokenizerFast(vocab=os.path.join(tmp, "vocab.json"), merges=os.path.join(tmp, "merges.txt"))


def families(tmp):
    """(name, config class, tokenizer, task model classes, extra config)."""
    wp = lambda cls: wordpiece_dir(tmp, cls)
    return [
        ("bert", tf.BertConfig, wp(tf.BertTokenizerFast),
         (tf.BertForSequenceClassification, tf.BertForTokenClassification, tf.BertForMaskedLM), dict(SIZE)),
        ("roberta", tf.RobertaConfig, bpe_dir(tmp),
         (tf.RobertaForSequenceClassification, tf.RobertaForTokenClassification, tf.RobertaForMaskedLM),
         dict(SIZE, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1, layer_norm_eps=1e-5)),
        ("distilbert", tf.DistilBertConfig, wp(tf.DistilBertTokenizerFast),
         (tf.DistilBertForSequenceClassification, tf.DistilBertForTokenClassification, tf.DistilBertForMaskedLM),
         dict(dim=16, n_layers=2, n_heads=2, hidden_dim=32)),
        ("electra", tf.ElectraConfig, wp(tf.ElectraTokenizerFast),
         (tf.ElectraForSequenceClassification, tf.ElectraForTokenClassification, tf.ElectraForMaskedLM),
         dict(SIZE, embedding_size=8)),
    ]


def widen(model, seed):
    """Every parameter random and O(1): biases and layer norms too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            norm = "norm" in name.lower() and name.endswith("weight")
            p.copy_(1.0 + 0.1 * noise if norm else 0.3 * noise)


def rows(x):
    return x.tolist()


def main():
    torch.manual_seed(0)
    shutil.rmtree(OUT, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (name, config_cls, tok, (seq_cls, token_cls, mlm_cls), extra) in enumerate(families(tmp)):
            tok.model_max_length = 40
            for task, cls in (("seq", seq_cls), ("token", token_cls), ("mlm", mlm_cls)):
                labels = {"seq": SEQ_LABELS, "token": TOKEN_LABELS, "mlm": None}[task]
                kw = dict(extra, max_position_embeddings=40 + (2 if name == "roberta" else 0), vocab_size=len(tok))
                if labels:
                    kw.update(id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
                model = cls(config_cls(**kw)).eval()
                widen(model, 100 * seed + len(task))
                out = os.path.join(OUT, f"{name}-{task}")
                model.save_pretrained(out)
                tok.save_pretrained(out)
                expected = {"state_dict": sorted(model.state_dict().keys())}
                with torch.no_grad():
                    if task == "seq":
                        enc = tok(TEXTS, padding=True, return_tensors="pt")
                        pairs = tok([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt")
                        expected.update(texts=TEXTS, input_ids=rows(enc["input_ids"]),
                                        logits=rows(model(**enc).logits),
                                        pairs=PAIRS, pair_input_ids=rows(pairs["input_ids"]),
                                        pair_type_ids=rows(pairs["token_type_ids"]) if "token_type_ids" in pairs else None,
                                        pair_logits=rows(model(**pairs).logits))
                    elif task == "token":
                        if name == "roberta":
                            tok_words = tf.RobertaTokenizerFast.from_pretrained(out, add_prefix_space=True)
                        else:
                            tok_words = tok
                        enc = tok_words(TAGGED, is_split_into_words=True, padding=True, return_tensors="pt")
                        expected.update(words=TAGGED, input_ids=rows(enc["input_ids"]),
                                        logits=rows(model(**enc).logits))
                    else:
                        texts = [f"the {tok.mask_token} was great .", f"a {tok.mask_token} plot and {tok.mask_token} acting"]
                        enc = tok(texts, padding=True, return_tensors="pt")
                        logits = model(**enc).logits
                        at = enc["input_ids"] == tok.mask_token_id
                        expected.update(texts=texts, input_ids=rows(enc["input_ids"]), mask_logits=rows(logits[at]))
                with open(os.path.join(out, "expected.json"), "w") as f:
                    json.dump(expected, f)
                print(out)


if __name__ == "__main__":
    main()
