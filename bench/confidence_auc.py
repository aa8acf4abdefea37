"""How well three confidence measures rank right answers above wrong ones, on held-out pairs.

Usage::

    python bench/confidence_auc.py runs/NAME/best.npz [LIMIT]

For a seq2seq model trained by ``fastlstm train`` (on a file of pairs, or on
the book's data: its first LIMIT test questions, 5000), every held-out question is decoded
greedily and each answer scored by its sequence probability (what
:func:`fastlstm.translate` reports), the least sure token's probability, and
the mean token probability (the measure of earlier versions).  Prints the exact-match
accuracy and the area under the ROC curve of each measure (1: every right
answer more confident than every wrong one; 0.5: chance).
"""

from __future__ import annotations

import sys

import numpy as np

from fastlstm.api import owndata
from fastlstm.api.loading import load_model
from fastlstm.datasets.pairs import EOS_ID
from fastlstm.datasets.text import TokenVocab


def _book_data(loaded, limit):
    """Answers and token probabilities of a model trained on the book's fixed-width data."""
    from fastlstm.api import data as d
    from fastlstm.models.sampling import softmax64

    info = loaded.extra["seq2seq"]
    _, (x, t), _, _ = d.recorded_sequence(info["data_source"], info["reverse"], limit)
    out = loaded.model.generate_batch(x, int(t[0, 0]), t.shape[1] - 1)  # (N, T_dec)
    right = (out == t[:, 1:]).all(axis=1)
    dec = np.concatenate([t[:, :1], out[:, :-1]], axis=1).astype(np.int32)
    score = np.asarray(loaded.model.scores(x, dec))  # (N, T_dec, V)
    p = softmax64(score.reshape(-1, score.shape[2])).reshape(score.shape)
    probs = np.take_along_axis(p, out[:, :, None], axis=2)[:, :, 0]  # (N, T_dec)
    return right, list(probs)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    usage = "usage: python bench/confidence_auc.py runs/NAME/best.npz [LIMIT]"
    if not 1 <= len(argv) <= 2 or argv[0] in ("-h", "--help"):
        if argv[:1] in (["-h"], ["--help"]):
            print(__doc__)
            return 0
        print(usage, file=sys.stderr)
        return 2
    limit = argv[1] if len(argv) > 1 else "5000"
    if not limit.isdigit() or int(limit) < 1:
        print(f"LIMIT must be a positive integer, got {limit!r}\n{usage}", file=sys.stderr)
        return 2
    loaded = load_model(argv[0])
    info = loaded.extra.get("seq2seq")
    if info is None:
        print(f"{argv[0]} is not a seq2seq model's checkpoint\n{usage}", file=sys.stderr)
        return 2
    if info.get("format") != "pairs":  # the book's data: answers of fixed width
        right, probs = _book_data(loaded, int(limit))
        return _report(right, probs)
    if len(argv) > 1:
        print("LIMIT is for the book's data sets: every held-out pair is decoded", file=sys.stderr)
    source = info["data_source"]
    vocab = TokenVocab.from_meta(info["vocab"])
    cfg = {"data": source["path"], "level": source["level"], "encoding": source["encoding"],
           "max_length": source["max_length"], "reverse": info["reverse"], "limit": None}  # fmt: skip
    data, _ = owndata.pairs_data(cfg, vocab=vocab)
    x, t = data.x_test, data.t_test
    out = owndata.decode_pairs(loaded.model, x, t.shape[1] - 1)
    rows = out.tolist()
    got = [owndata._answer_tokens(r, EOS_ID) for r in rows]
    want = [owndata._answer_tokens(r[1:], EOS_ID) for r in t.tolist()]
    right = np.array([g == w for g, w in zip(got, want, strict=True)])
    probs = owndata.answer_probs(loaded.model, x, got, [EOS_ID in r for r in rows])
    return _report(right, probs)


def _report(right, probs) -> int:
    right = np.asarray(right)
    measures = {
        "least sure token": [p.min() if len(p) else 0.0 for p in probs],
        "sequence probability": [np.prod(p) for p in probs],
        "mean token probability": [p.mean() if len(p) else 0.0 for p in probs],
    }
    print(f"{len(right)} held-out questions, {right.mean():.1%} answered right")
    if right.all() or not right.any():
        print("  AUC not defined: no right or no wrong answers to rank")
        return 0
    for name, conf in measures.items():
        conf = np.array(conf)
        auc = owndata.confidence_auc(conf, right)
        low = (conf < owndata.LOW_CONFIDENCE).mean()
        print(f"  {name:<24} AUC {auc:.4f}   flagged below 50%: {low:.1%} of the answers, "
              f"{(conf[~right] < owndata.LOW_CONFIDENCE).mean() if (~right).any() else 0:.1%} "
              f"of the wrong ones, {(conf[right] < owndata.LOW_CONFIDENCE).mean():.1%} of the "
              "right ones", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
