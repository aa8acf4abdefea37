"""The generated stand-in for PTB (``fastlstm.datasets.toy_ptb``)."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.datasets import toy_ptb


def test_splits_in_ptb_format_with_one_vocabulary():
    train, word_to_id, id_to_word = toy_ptb.load_data("train")
    valid, w2, _ = toy_ptb.load_data("val")
    test, w3, _ = toy_ptb.load_data("test")
    assert (len(train), len(valid), len(test)) == (60000, 6000, 6000)
    assert word_to_id == w2 == w3 and len(word_to_id) == len(id_to_word)
    assert all(id_to_word[i] == w for w, i in word_to_id.items())
    for corpus in (train, valid, test):
        assert corpus.dtype == np.int32 and corpus.min() >= 0
        assert corpus.max() < len(word_to_id)
    # PTB's conventions, and the words the book's ch07 scripts use
    for word in ("<eos>", "<unk>", "N", "$", "the", "meaning", "of", "life", "is"):
        assert word in word_to_id
    assert int(train[0]) == 0 and int(train[1]) == 1  # ids in order of first appearance


def test_the_same_every_time():
    a = toy_ptb.load_data("train")[0]
    toy_ptb._corpora.cache_clear()
    np.testing.assert_array_equal(a, toy_ptb.load_data("train")[0])
    assert toy_ptb.make_sentences(5, seed=1) == toy_ptb.make_sentences(5, seed=1)
    assert toy_ptb.make_sentences(5, seed=1) != toy_ptb.make_sentences(5, seed=2)


def test_bad_split_name():
    with pytest.raises(ValueError, match="data_type must be"):
        toy_ptb.load_data("training")
    with pytest.raises(ValueError, match="n must be"):
        toy_ptb.make_sentences(-1)
