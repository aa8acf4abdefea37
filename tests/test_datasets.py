"""Tests of fastlstm.datasets: the book's ids and splits, caching, offline behaviour, generators."""

from __future__ import annotations

import datetime
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fastlstm import config
from fastlstm.datasets import ptb, sequence


def _offline(url, dest):
    raise urllib.error.URLError("network disabled in tests")


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No data directory, an empty cache, and no network."""
    monkeypatch.delenv("FASTLSTM_DATA", raising=False)
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ptb, "_download", _offline)
    monkeypatch.setattr(sequence, "_download", _offline)
    return tmp_path / "cache"


def _write_ptb(root: Path, train: str, valid: str, test: str) -> Path:
    d = root / "ptb"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        (d / f"ptb.{name}.txt").write_text(text)
    return d


# --------------------------------------------------------------------------- #
# PTB with the real files
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def ptb_cache(ptb_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("ptb-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTLSTM_CACHE", str(cache))
        loaded = {split: ptb.load_data(split) for split in ("train", "val", "test")}
    return cache, loaded


def test_ptb_book_facts(ptb_cache):
    _, loaded = ptb_cache
    corpus, word_to_id, id_to_word = loaded["train"]
    assert len(word_to_id) == 10000
    assert corpus.dtype == np.int32
    assert corpus.shape == (929589,)
    assert loaded["val"][0].shape == (73760,)
    assert loaded["test"][0].shape == (82430,)
    first = ["aer", "banknote", "berlitz", "calloway", "centrust", "cluett", "fromstein"]
    assert [id_to_word[int(i)] for i in corpus[: len(first)]] == first
    assert corpus[: len(first)].tolist() == list(range(len(first)))
    assert all(id_to_word[word_to_id[w]] == w for w in word_to_id)
    assert corpus.max() == 9999 and corpus.min() == 0
    for split in ("val", "test"):
        assert loaded[split][1] == word_to_id


def test_ptb_ids_match_book_tokenisation(ptb_cache, ptb_dir):
    """The book's algorithm: '\\n' -> '<eos>', vocabulary by first appearance in train."""
    _, loaded = ptb_cache
    corpus, word_to_id, _ = loaded["train"]
    words = (ptb_dir / "ptb.train.txt").read_text().replace("\n", "<eos>").strip().split()
    book_vocab: dict[str, int] = {}
    for w in words:
        book_vocab.setdefault(w, len(book_vocab))
    assert word_to_id == book_vocab
    np.testing.assert_array_equal(corpus, [book_vocab[w] for w in words])
    n_lines = (ptb_dir / "ptb.train.txt").read_text().count("\n")
    assert int(np.sum(corpus == word_to_id["<eos>"])) == n_lines
    val_words = (ptb_dir / "ptb.valid.txt").read_text().replace("\n", "<eos>").strip().split()
    np.testing.assert_array_equal(loaded["val"][0], [book_vocab[w] for w in val_words])


def test_ptb_load_vocab_is_the_vocabulary_of_load_data(ptb_cache, monkeypatch):
    """The book's ``ptb.load_vocab()``: ``(word_to_id, id_to_word)`` of the training split."""
    cache, loaded = ptb_cache
    monkeypatch.setenv("FASTLSTM_CACHE", str(cache))
    word_to_id, id_to_word = ptb.load_vocab()
    assert word_to_id == loaded["train"][1] and id_to_word == loaded["train"][2]


def test_ptb_cached_load_skips_text(ptb_cache, monkeypatch):
    cache, loaded = ptb_cache
    monkeypatch.setenv("FASTLSTM_CACHE", str(cache))
    assert list((cache / "ptb").glob("ptb-corpus-*.npz"))

    def no_parse(path):
        raise AssertionError(f"text file {path} parsed despite the cache")

    monkeypatch.setattr(ptb, "_tokens", no_parse)
    corpus, word_to_id, _ = ptb.load_data("train")
    np.testing.assert_array_equal(corpus, loaded["train"][0])
    assert word_to_id == loaded["train"][1]


# --------------------------------------------------------------------------- #
# PTB with small files (no data directory needed)
# --------------------------------------------------------------------------- #
def test_ptb_vocab_order_train_valid_test_and_independent_of_call_order(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _write_ptb(data, " a b a \n b c \n", " d a \n", " e \n d \n")
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ptb, "_download", _offline)
    test_corpus, w2i, i2w = ptb.load_data("test")
    assert list(w2i) == ["a", "b", "<eos>", "c", "d", "e"]
    assert test_corpus.tolist() == [5, 2, 4, 2]
    train_corpus, w2i_train, _ = ptb.load_data("train")
    assert w2i_train == w2i
    assert train_corpus.tolist() == [0, 1, 0, 2, 1, 3, 2]
    assert ptb.load_data("valid")[0].tolist() == [4, 0, 2]
    assert ptb.load_data("val")[0].tolist() == [4, 0, 2]
    assert i2w == {i: w for w, i in w2i.items()}


@pytest.mark.parametrize("missing", [("valid",), ("test",), ("valid", "test")])
def test_ptb_train_split_and_vocabulary_need_only_the_train_file(tmp_path, monkeypatch, missing):
    data = tmp_path / "data"
    d = _write_ptb(data, " a b a \n b c \n", " a \n", " c \n")
    for split in missing:
        (d / f"ptb.{split}.txt").unlink()
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ptb, "_download", _offline)
    corpus, w2i, i2w = ptb.load_data("train")
    assert list(w2i) == ["a", "b", "<eos>", "c"]  # the same ids as with all three files
    assert corpus.tolist() == [0, 1, 0, 2, 1, 3, 2]
    assert ptb.load_vocab() == (w2i, i2w)
    for split in ("valid", "test"):  # these need all three: the vocabulary spans them
        with pytest.raises(FileNotFoundError, match=rf"ptb\.{missing[0]}\.txt"):
            ptb.load_data(split)


def test_ptb_cache_follows_source_changes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    d = _write_ptb(data, " a b \n", " a \n", " b \n")
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    assert ptb.load_data("train")[0].tolist() == [0, 1, 2]
    (d / "ptb.train.txt").write_text(" b a z \n")
    corpus, w2i, _ = ptb.load_data("train")
    assert list(w2i) == ["b", "a", "z", "<eos>"]
    assert corpus.tolist() == [0, 1, 2, 3]


def test_ptb_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _write_ptb(data, " a b \n", " a \n", " b \n")
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    expected = ptb.load_data("train")[0].tolist()
    (cached,) = (tmp_path / "cache" / "ptb").glob("ptb-corpus-*.npz")
    cached.write_bytes(b"PK\x03\x04 garbage")
    assert ptb.load_data("train")[0].tolist() == expected


def test_ptb_data_dir_has_priority_over_cache(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    _write_ptb(data, " data \n", " data \n", " data \n")
    _write_ptb(cache, " cache \n", " cache \n", " cache \n")
    monkeypatch.setenv("FASTLSTM_CACHE", str(cache))
    monkeypatch.setattr(ptb, "_download", _offline)
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    assert "data" in ptb.load_data("train")[1]
    monkeypatch.delenv("FASTLSTM_DATA")
    assert "cache" in ptb.load_data("train")[1]


def test_ptb_downloads_into_cache(no_data, monkeypatch):
    fetched = []

    def fake_download(url, dest):
        assert url.startswith(ptb.URL_BASE)
        fetched.append(url.rsplit("/", 1)[-1])
        Path(dest).write_text(" x y \n")

    monkeypatch.setattr(ptb, "_download", fake_download)
    corpus, w2i, _ = ptb.load_data("train")
    assert sorted(fetched) == sorted(ptb.FILES.values())
    assert corpus.tolist() == [0, 1, 2]
    assert (no_data / "ptb" / "ptb.train.txt").is_file()
    ptb.load_data("test")
    assert len(fetched) == 3  # not fetched again


def test_ptb_offline_without_files_says_where_to_put_them(no_data):
    with pytest.raises(FileNotFoundError) as info:
        ptb.load_data("train")
    msg = str(info.value)
    assert "FASTLSTM_DATA" in msg
    assert "ptb.train.txt" in msg and "ptb.valid.txt" in msg and "ptb.test.txt" in msg
    assert str(no_data / "ptb") in msg
    assert "network disabled" in msg


@pytest.mark.parametrize("bad", ["training", "", None, 1])
def test_ptb_bad_data_type(bad):
    with pytest.raises(ValueError, match="data_type"):
        ptb.load_data(bad)


# --------------------------------------------------------------------------- #
# sequence: the book's files
# --------------------------------------------------------------------------- #
def _book_sequence(path: Path, seed: int = 1984):
    """The book's dataset/sequence.py algorithm, restoring NumPy's global state."""
    questions, answers = [], []
    for line in path.read_text().splitlines():
        idx = line.find("_")
        questions.append(line[:idx])
        answers.append(line[idx:])
    char_to_id: dict[str, int] = {}
    for q, a in zip(questions, answers, strict=True):
        for c in q + a:
            char_to_id.setdefault(c, len(char_to_id))
    x = np.array([[char_to_id[c] for c in q] for q in questions])
    t = np.array([[char_to_id[c] for c in a] for a in answers])
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed)  # noqa: NPY002
        indices = np.arange(len(x))
        np.random.shuffle(indices)  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002
    x, t = x[indices], t[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:]), char_to_id


@pytest.mark.parametrize(
    ("name", "q_width", "a_width", "n_chars"),
    [("addition.txt", 7, 5, 13), ("date.txt", 29, 11, 59)],
)
def test_sequence_book_files(sequence_dir, name, q_width, a_width, n_chars):
    text = (sequence_dir / name).read_text()
    assert len(set(text) - {"\n"}) == n_chars  # the file itself
    (x_train, t_train), (x_test, t_test), vocab = sequence.load_data(name, return_vocab=True)
    assert x_train.shape == (45000, q_width) and t_train.shape == (45000, a_width)
    assert x_test.shape == (5000, q_width) and t_test.shape == (5000, a_width)
    assert x_train.dtype.kind == "i"
    assert len(vocab) == n_chars
    assert Path(vocab.source) == (sequence_dir / name).resolve()
    (bx, bt), (bxt, btt), char_to_id = _book_sequence(sequence_dir / name)
    assert dict(vocab.char_to_id) == char_to_id
    for ours, book in ((x_train, bx), (t_train, bt), (x_test, bxt), (t_test, btt)):
        np.testing.assert_array_equal(ours, book)
    lines = set(text.splitlines())
    for i in (0, 1, 44999):
        assert vocab.decode(x_train[i]) + vocab.decode(t_train[i]) in lines
    assert get_vocab_equal(name, vocab)


def get_vocab_equal(name, vocab):
    other = sequence.get_vocab(name)
    return other == vocab and dict(other.id_to_char) == dict(vocab.id_to_char)


def test_sequence_seed(sequence_dir):
    (a, _), _ = sequence.load_data("addition.txt", seed=1)
    (b, _), _ = sequence.load_data("addition.txt", seed=1)
    (c, _), _ = sequence.load_data("addition.txt", seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.random.seed(1984)  # noqa: NPY002  (seed=None uses the global state, as the book)
    (d, _), _ = sequence.load_data("addition.txt", seed=None)
    (e, _), _ = sequence.load_data("addition.txt")
    np.testing.assert_array_equal(d, e)


def test_sequence_results_are_independent_copies(sequence_dir):
    (x, _), _ = sequence.load_data("addition.txt")
    original = x.copy()
    x[:] = 0
    (y, _), _ = sequence.load_data("addition.txt")
    np.testing.assert_array_equal(y, original)
    with pytest.raises(TypeError):
        sequence.get_vocab("addition.txt").char_to_id["?"] = 99


# --------------------------------------------------------------------------- #
# sequence: other files, sources, errors
# --------------------------------------------------------------------------- #
def test_sequence_path_and_vocab_order(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("ab_c\nba_d\nca_a\n")
    (x_train, t_train), (x_test, t_test), vocab = sequence.load_data(
        path, seed=None, return_vocab=True
    )
    assert vocab.chars == ("a", "b", "_", "c", "d")
    assert len(x_train) == 3 and len(x_test) == 0
    assert sorted(vocab.decode(x_train)) == ["ab", "ba", "ca"]
    assert t_train.shape == (3, 2) and t_test.shape == (0, 2)
    assert vocab.source == str(path.resolve())


@pytest.mark.parametrize("end", ["\r\n", "\r"])
def test_sequence_line_ends_are_read_as_the_books_text_mode_reads_them(tmp_path, end):
    path, crlf = tmp_path / "unix.txt", tmp_path / "other.txt"
    path.write_bytes(b"1+2  _3  \n3+4  _7  \n")
    crlf.write_bytes(path.read_bytes().replace(b"\n", end.encode()))
    a = sequence.load_data(path, seed=7, return_vocab=True)
    b = sequence.load_data(crlf, seed=7, return_vocab=True)
    assert "\r" not in b[2].chars and b[2].chars == a[2].chars
    np.testing.assert_array_equal(a[0][1], b[0][1])  # the answers end as the book's do


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1+1  _2  \n2+2  _4  \n3+3   4  \n", r"bad\.txt, line 3: no '_'"),
        ("1+1  _2  \n12+2  _14 \n", r"bad\.txt, line 2: question width"),
        ("1+1  _2  \n2+2  _4 \n", r"bad\.txt, line 2: answer width"),
        ("_2\n", r"bad\.txt, line 1: empty question"),
        ("\n\n", r"bad\.txt: the file holds no data"),
        ("1+1_2\n\n2+2_4\n", r"bad\.txt, line 2: no '_'"),
    ],
)
def test_sequence_malformed_lines(tmp_path, text, pattern):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        sequence.load_data(path)


def test_sequence_unknown_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="FASTLSTM_DATA"):
        sequence.load_data(tmp_path / "missing.txt")
    with pytest.raises(TypeError, match="file_name"):
        sequence.load_data(3)


def test_sequence_downloads_into_cache(no_data, monkeypatch):
    lines = sequence.make_addition(100, seed=5)

    def fake_download(url, dest):
        assert url == sequence.URL_BASE + "addition.txt"
        Path(dest).write_text("\n".join(lines) + "\n")

    monkeypatch.setattr(sequence, "_download", fake_download)
    (x, t), (xt, tt), vocab = sequence.load_data("addition.txt", return_vocab=True)
    assert x.shape == (90, 7) and xt.shape == (10, 7)
    assert Path(vocab.source) == (no_data / "sequence" / "addition.txt").resolve()


@pytest.mark.parametrize(
    ("name", "q_width", "a_width"), [("addition.txt", 7, 5), ("date.txt", 29, 11)]
)
def test_sequence_offline_falls_back_to_generator(no_data, name, q_width, a_width):
    with pytest.warns(UserWarning, match="make_"):
        (x, t), (xt, tt), vocab = sequence.load_data(name, return_vocab=True)
    assert x.shape == (45000, q_width) and t.shape == (45000, a_width)
    assert xt.shape == (5000, q_width) and tt.shape == (5000, a_width)
    assert vocab.source.startswith("generated")
    assert not (no_data / "sequence" / name).exists()


@pytest.mark.parametrize("cache", ["unusable", "none"])
def test_data_load_without_a_usable_cache(no_data, monkeypatch, tmp_path, cache):
    """A read-only home (or none): the data are read or generated, the cache only skipped."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.delenv("FASTLSTM_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if cache == "none":
        monkeypatch.setattr(config, "user_cache_dir", lambda: None)
    else:  # ~/.cache cannot be made (not even as root)
        monkeypatch.setenv("HOME", str(blocked / "home"))
    with pytest.warns(UserWarning, match="make_date"):  # it raised a PermissionError
        (x, _), _ = sequence.load_data("date.txt")
    assert x.shape == (45000, 29)
    _write_ptb(tmp_path / "data", "a b c\nb c\n", "a b\n", "c a\n")
    monkeypatch.setenv("FASTLSTM_DATA", str(tmp_path / "data"))
    corpus, word_to_id, _ = ptb.load_data("train")  # the parsed copy is not cached: no error
    assert len(corpus) == 7 and len(word_to_id) == 4
    with pytest.raises(FileNotFoundError, match="FASTLSTM_CACHE"):
        monkeypatch.delenv("FASTLSTM_DATA")
        ptb.load_data("train")


def test_a_cache_that_cannot_be_made_names_fastlstm_cache(monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(
        OSError, match=r"cannot create the cache folder .*a-file .*set FASTLSTM_CACHE"
    ):
        config.cache_dir()


# --------------------------------------------------------------------------- #
# generators
# --------------------------------------------------------------------------- #
def test_make_addition_format_and_determinism(tmp_path):
    lines = sequence.make_addition(3000, seed=3)
    assert lines == sequence.make_addition(3000, seed=3)
    assert lines != sequence.make_addition(3000, seed=4)
    pairs = []
    for line in lines:
        assert len(line) == 12 and line[7] == "_"
        a, b = map(int, line[:7].rstrip().split("+"))
        assert line[:7] == f"{a}+{b}".ljust(7)
        assert int(line[8:]) == a + b and line[8:] == str(a + b).ljust(4)
        pairs.append((min(a, b), max(a, b)))
    assert len(set(pairs)) == len(pairs)
    n_digits = Counter(len(str(v)) for p in pairs for v in p)
    assert set(n_digits) == {1, 2, 3}
    assert n_digits[3] > n_digits[2] > n_digits[1]  # digits drawn first, leading zeros dropped
    path = tmp_path / "add.txt"
    path.write_text("\n".join(lines) + "\n")
    (x, t), (xt, tt), vocab = sequence.load_data(path, return_vocab=True)
    assert x.shape == (2700, 7) and t.shape == (2700, 5) and xt.shape == (300, 7)
    assert set(vocab.chars) == set("0123456789+ _")


def _parse_date_question(q: str) -> datetime.date:
    for fmt in ("%m/%d/%y", "%b %d, %Y", "%B %d, %Y", "%A, %B %d, %Y"):
        try:
            d = datetime.datetime.strptime(q, fmt).date()
        except ValueError:
            continue
        if fmt.startswith("%A"):
            assert q.split(",")[0].lower() == d.strftime("%A").lower(), q
        return d
    raise AssertionError(f"unparseable date question {q!r}")


def test_make_date_format_and_determinism(tmp_path):
    lines = sequence.make_date(4000, seed=7)
    assert lines == sequence.make_date(4000, seed=7)
    assert lines != sequence.make_date(4000, seed=8)
    kinds = Counter()
    for line in lines:
        assert len(line) == 40 and line.index("_") == 29
        q, answer = line[:29].rstrip(), datetime.date.fromisoformat(line[30:])
        assert _parse_date_question(q) == answer
        assert datetime.date(1970, 1, 1) <= answer <= datetime.date(2017, 12, 31)
        if "/" in q:
            kinds["short"] += 1
        else:
            kinds["lower" if q.islower() else "upper" if q.isupper() else "title"] += 1
    assert 0.2 < kinds["short"] / len(lines) < 0.3
    assert kinds["title"] > kinds["lower"] > 0 and kinds["upper"] > 0
    path = tmp_path / "date.txt"
    path.write_text("\n".join(lines) + "\n")
    (x, t), _ = sequence.load_data(path)
    assert x.shape == (3600, 29) and t.shape == (3600, 11)


def test_generated_dates_fit_book_vocab(sequence_dir):
    book_chars = set((sequence_dir / "date.txt").read_text()) - {"\n"}
    assert len(book_chars) == 59
    generated = set("".join(sequence.make_date(50000, seed=11)))
    assert generated <= book_chars
    assert len(generated) >= 55


def test_generated_addition_fits_book_vocab(sequence_dir):
    book_chars = set((sequence_dir / "addition.txt").read_text()) - {"\n"}
    assert set("".join(sequence.make_addition(5000, seed=1))) == book_chars


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_generators_reject_bad_n(n):
    with pytest.raises(ValueError, match="n must be"):
        sequence.make_date(n)
    with pytest.raises(ValueError, match="n must be"):
        sequence.make_addition(n)


def test_make_addition_rejects_impossible_n():
    with pytest.raises(ValueError, match="too large"):
        sequence.make_addition(100, digits=1)


# --------------------------------------------------------------------------- #
# Vocab
# --------------------------------------------------------------------------- #
def test_vocab_encode_decode():
    vocab = sequence.Vocab("ab_c ")
    ids = vocab.encode("cab_")
    assert ids.tolist() == [3, 0, 1, 2] and ids.dtype == np.int32
    assert vocab.decode(ids) == "cab_"
    batch = vocab.encode(["ab", "ca"])
    assert batch.shape == (2, 2)
    assert vocab.decode(batch) == ["ab", "ca"]
    assert len(vocab) == 5 and "c" in vocab and "z" not in vocab
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("az")
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([5])
    with pytest.raises(ValueError, match="equal lengths"):
        vocab.encode(["a", "bc"])
    with pytest.raises(ValueError, match="duplicates"):
        sequence.Vocab("aa")


# --------------------------------------------------------------------------- #
# no network: no waiting, and the messages name the folders looked in
# --------------------------------------------------------------------------- #
@pytest.fixture
def hanging_network(monkeypatch, tmp_path):
    """No data directory, an empty cache, and a network whose name lookups never answer."""
    import time

    from fastlstm.datasets import _fetch

    calls = []

    def hang(host, port, timeout):
        calls.append(host)
        time.sleep(30)

    monkeypatch.delenv("FASTLSTM_DATA", raising=False)
    monkeypatch.delenv("FASTLSTM_OFFLINE", raising=False)
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_fetch, "_connect", hang)
    monkeypatch.setattr(_fetch, "PROBE_TIMEOUT", 0.5)
    return calls


def test_offline_probe_gives_up_quickly(hanging_network):
    import time

    from fastlstm.datasets import _fetch

    t0 = time.perf_counter()
    reason = _fetch.offline_reason(sequence.URL_BASE + "addition.txt")
    assert time.perf_counter() - t0 < 2.0
    assert reason == "no answer from raw.githubusercontent.com within 0.5 s"
    assert hanging_network == ["raw.githubusercontent.com"]


def test_sequence_fallback_does_not_wait_and_names_the_folders(hanging_network, tmp_path):
    import time

    t0 = time.perf_counter()
    with pytest.warns(UserWarning) as record:
        (x, t), _ = sequence.load_data("addition.txt")
    assert time.perf_counter() - t0 < 5.0  # the probe's 0.5 s, not a download timeout
    msg = str(record[0].message)
    assert "FASTLSTM_DATA (not set)" in msg and "$FASTLSTM_DATA" not in msg
    assert str(tmp_path / "cache" / "sequence") in msg
    assert "no answer from raw.githubusercontent.com" in msg
    assert x.shape[1] == 7  # the generated addition data


def test_ptb_offline_setting_skips_the_download(hanging_network, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTLSTM_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as info:
        ptb.load_data("test")
    assert hanging_network == []  # no connection attempted at all
    msg = str(info.value)
    assert "FASTLSTM_OFFLINE is set" in msg
    assert "FASTLSTM_DATA (not set)" in msg and "$FASTLSTM_DATA" not in msg
    assert str(tmp_path / "cache" / "ptb") in msg


@pytest.mark.parametrize("value, offline", [("false", False), ("OFF", False), ("0", False),
                                            ("True", True), (" yes ", True)])  # fmt: skip
def test_yes_no_settings_read_every_spelling(monkeypatch, value, offline):
    from fastlstm.datasets import _fetch

    def down(*args):
        raise OSError("no network in this test")

    monkeypatch.setattr(_fetch, "_connect", down)
    monkeypatch.setenv("FASTLSTM_OFFLINE", value)  # 'false' switched downloads off
    reason = _fetch.offline_reason("https://example.org/x", 1.0)
    assert (reason == "FASTLSTM_OFFLINE is set") is offline, reason
    monkeypatch.setenv("FASTLSTM_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="FASTLSTM_OFFLINE must be 1 or 0 .*got 'maybe'"):
        config.env_flag("FASTLSTM_OFFLINE")


def test_ptb_message_names_the_data_folder_it_looked_in(hanging_network, monkeypatch, tmp_path):
    data = tmp_path / "data"
    (data / "sequence").mkdir(parents=True)  # a data folder without ptb/
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    monkeypatch.setenv("FASTLSTM_OFFLINE", "yes")
    with pytest.raises(FileNotFoundError, match="not found") as info:
        ptb.load_data("train")
    assert f"{data / 'ptb'} (from FASTLSTM_DATA)" in str(info.value)
    monkeypatch.setenv("FASTLSTM_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        ptb.load_data("train")
    assert f"FASTLSTM_DATA={tmp_path / 'nowhere'} (not a directory)" in str(info.value)


# --------------------------------------------------------------------------- #
# data never substituted: the book's dataset/ folder, FASTLSTM_DATA honoured
# --------------------------------------------------------------------------- #
def _book_tree(root: Path) -> Path:
    """The book's layout: ``ch07/`` scripts beside ``dataset/addition.txt`` (not the real one)."""
    (root / "ch07").mkdir(parents=True)
    (root / "ch07" / "train_seq2seq.py").write_text("# the book's script\n")
    (root / "dataset").mkdir()
    lines = [f"{a:<3d}+{a:<3d}_{2 * a:<4d}" for a in range(100, 140)]  # (7 + 5) wide
    (root / "dataset" / "addition.txt").write_text("\n".join(lines) + "\n")
    return root / "dataset" / "addition.txt"


@pytest.mark.parametrize("how", ["cwd", "script", "sys.path"])
def test_sequence_reads_the_books_dataset_folder_before_generating(
    no_data, tmp_path, monkeypatch, how
):
    """A book script with only its imports switched reads ``../dataset/addition.txt`` as the
    book's loader does: from its working folder ``chNN/``, beside the script's parent, or
    through ``sys.path.append('..')``."""
    import sys
    import warnings

    book_file = _book_tree(tmp_path / "book")
    elsewhere = tmp_path / "elsewhere" / "sub"
    elsewhere.mkdir(parents=True)
    if how == "cwd":
        monkeypatch.chdir(tmp_path / "book" / "ch07")
    elif how == "script":
        monkeypatch.chdir(elsewhere)
        monkeypatch.setattr(sys, "argv", [str(tmp_path / "book" / "ch07" / "train_seq2seq.py")])
    else:
        monkeypatch.chdir(elsewhere)
        monkeypatch.syspath_prepend(str(tmp_path / "book"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "using generated data" warning
        (x, t), (xt, tt), vocab = sequence.load_data("addition.txt", return_vocab=True)
    assert Path(vocab.source) == book_file.resolve()
    assert len(x) + len(xt) == 40 and x.shape[1] == 7


def test_ptb_reads_the_books_dataset_folder(no_data, tmp_path, monkeypatch):
    """The book's ``ptb.py`` keeps (downloads) the PTB files in its ``dataset/`` folder."""
    book = tmp_path / "book"
    (book / "ch06").mkdir(parents=True)
    for split, text in (("train", " a b \n"), ("valid", " a \n"), ("test", " b \n")):
        (book / "dataset").mkdir(exist_ok=True)
        (book / "dataset" / f"ptb.{split}.txt").write_text(text)
    monkeypatch.chdir(book / "ch06")
    corpus, w2i, _ = ptb.load_data("train")
    assert list(w2i) == ["a", "b", "<eos>"] and corpus.tolist() == [0, 1, 2]


@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
@pytest.mark.parametrize("loader", ["sequence", "ptb"])
def test_fastlstm_data_that_cannot_be_honoured_is_an_error(
    no_data, tmp_path, monkeypatch, kind, loader
):
    """A mistyped or empty FASTLSTM_DATA used to warn and train on generated data."""
    import warnings

    target = tmp_path / "data"
    if kind == "file":
        target.write_text("not a folder")
    elif kind == "empty":
        target.mkdir()
    monkeypatch.setenv("FASTLSTM_DATA", str(target))
    match = "empty folder" if kind == "empty" else r"\(not a directory\)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FileNotFoundError, match=f"FASTLSTM_DATA={target}.*{match}"):
            if loader == "sequence":
                sequence.load_data("addition.txt")
            else:
                ptb.load_data("train")


def test_fastlstm_data_without_the_book_file_is_an_error_not_generated(
    no_data, tmp_path, monkeypatch
):
    import warnings

    data = tmp_path / "data"
    _write_ptb(data, " a \n", " a \n", " a \n")  # PTB only, no sequence/
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FileNotFoundError, match=r"date.txt not found.*FASTLSTM_DATA") as info:
            sequence.load_data("date.txt")
    assert str(data / "sequence") in str(info.value)


# --------------------------------------------------------------------------- #
# caches keyed by content
# --------------------------------------------------------------------------- #
def _same_stat(src: Path, dst: Path) -> None:
    """Give ``dst`` the modification time of ``src`` (as cp -p, rsync -a, touch -r do)."""
    import os

    st = src.stat()
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_ptb_cache_tells_copies_with_the_same_size_and_mtime_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ptb, "_download", _offline)
    one = _write_ptb(tmp_path / "one", " a b \n", " a \n", " b \n")
    two = _write_ptb(tmp_path / "two", " c d \n", " c \n", " d \n")  # same sizes
    for name in ("train", "valid", "test"):
        _same_stat(one / f"ptb.{name}.txt", two / f"ptb.{name}.txt")
        st1, st2 = (one / f"ptb.{name}.txt").stat(), (two / f"ptb.{name}.txt").stat()
        assert (st1.st_size, st1.st_mtime_ns) == (st2.st_size, st2.st_mtime_ns)
    monkeypatch.setenv("FASTLSTM_DATA", str(tmp_path / "one"))
    assert list(ptb.load_data("train")[1]) == ["a", "b", "<eos>"]
    monkeypatch.setenv("FASTLSTM_DATA", str(tmp_path / "two"))
    assert list(ptb.load_data("train")[1]) == ["c", "d", "<eos>"]


def test_sequence_cache_sees_a_file_rewritten_with_the_same_size_and_mtime(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("1+1_2\n" * 20)
    before = path.stat()
    x, _ = sequence.load_data(path)[0]
    path.write_text("3+4_7\n" * 20)  # same size
    import os

    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    (x2, t2), _, vocab = sequence.load_data(path, return_vocab=True)
    assert vocab.decode(x2[0]) == "3+4" and vocab.decode(t2[0]) == "_7"


# --------------------------------------------------------------------------- #
# data files: messages that name the file
# --------------------------------------------------------------------------- #
def test_sequence_file_that_is_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"1+1_2\n2+2_4\n\xe9+1_2\n")
    with pytest.raises(ValueError, match=rf"{path}, line 3: not UTF-8"):
        sequence.load_data(path)


def test_sequence_file_with_a_huge_line_is_refused_for_its_width(tmp_path):
    path = tmp_path / "one_line.txt"
    path.write_text("1" * 200_000 + "_2\n")
    with pytest.raises(ValueError, match=rf"{path}, line 1: 200002 characters.*at most 1000"):
        sequence.load_data(path)


def test_ptb_file_that_is_not_utf8_names_file_and_line(tmp_path, monkeypatch):
    data = tmp_path / "data"
    d = _write_ptb(data, " a b \n c \n", " a \n", " b \n")
    (d / "ptb.valid.txt").write_bytes(b" a \n b \xff \n")
    monkeypatch.setenv("FASTLSTM_DATA", str(data))
    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=rf"{d / 'ptb.valid.txt'}, line 2: not UTF-8"):
        ptb.load_data("train")
