"""Data sets of the book: the Penn Treebank (:mod:`~fastlstm.datasets.ptb`) and the
character-level sequence problems (:mod:`~fastlstm.datasets.sequence`), and a small
generated stand-in for PTB that needs no files (:mod:`~fastlstm.datasets.toy_ptb`).

The book's files are read from the directory named by ``FASTLSTM_DATA``
(``ptb/``, ``sequence/``), then from the cache (``FASTLSTM_CACHE``), then
downloaded; see :mod:`fastlstm.config`.

Examples
--------
>>> from fastlstm.datasets import ptb, sequence                      # doctest: +SKIP
>>> corpus, word_to_id, id_to_word = ptb.load_data("train")          # doctest: +SKIP
>>> (x_train, t_train), (x_test, t_test) = sequence.load_data("date.txt")  # doctest: +SKIP
"""

from fastlstm.datasets import ptb, sequence, toy_ptb

__all__ = ["ptb", "sequence", "toy_ptb"]
