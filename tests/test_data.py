import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import data


def generators(seed=0):
    return np.random.default_rng(seed), np.random.default_rng(seed)


# ------------------------------------------------------------------------------------ corpus
def test_default_corpus_is_the_stdlib_topics_joined_in_order():
    from pydoc_data.topics import topics
    text = data.load_corpus()
    assert 440_000 < len(text) < 490_000
    assert text == data.load_corpus()
    assert text.startswith(topics[sorted(topics)[0]])


def test_corpus_from_a_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("héllo\nwörld\n", encoding="utf-8")
    assert data.load_corpus(path) == "héllo\nwörld\n"
    assert data.load_corpus(str(path)) == "héllo\nwörld\n"


def test_corpus_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file at"):
        data.load_corpus(tmp_path / "missing.txt")
    with pytest.raises(IsADirectoryError, match="not a file"):
        data.load_corpus(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        data.load_corpus(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8.*byte 3"):
        data.load_corpus(tmp_path / "latin1.txt")


# ------------------------------------------------------------------------------------ vocab
def test_vocab_round_trip_on_the_corpus():
    text = data.load_corpus()
    vocab = data.Vocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() >= 1                      # every corpus character is known
    assert vocab.decode(ids) == text
    assert vocab.to_list() == sorted(set(text))


def test_vocab_unknown_characters_map_to_the_unknown_symbol():
    vocab = data.Vocab.from_text("abc ")
    ids = vocab.encode("a☃c z")                 # ids: " "=1, "a"=2, "b"=3, "c"=4
    assert ids.tolist() == [2, 0, 4, 1, 0]
    assert vocab.decode(ids) == f"a{data.Vocab.UNK}c {data.Vocab.UNK}"
    assert vocab.encode("").shape == (0,)
    assert len(vocab) == 5                     # unknown + 4 characters


def test_vocab_ids_are_sorted_characters_after_the_unknown():
    vocab = data.Vocab.from_text("cab")
    assert vocab.encode("abc").tolist() == [1, 2, 3]
    assert vocab.decode(ts.tensor([3, 2, 1])) == "cba"
    assert vocab.encode("\x00~\U0001F600").tolist() == [0, 0, 0]   # below, above, astral


def test_vocab_to_list_from_list_gives_the_same_ids():
    vocab = data.Vocab.from_text("the quick brown fox")
    again = data.Vocab.from_list(vocab.to_list())
    text = "the lazy dog"
    assert np.array_equal(vocab.encode(text), again.encode(text))


def test_vocab_errors():
    with pytest.raises(ValueError, match="single characters"):
        data.Vocab(["ab", "c"])
    with pytest.raises(ValueError, match="single characters"):
        data.Vocab(["a", 1])
    with pytest.raises(ValueError, match="non-empty"):
        data.Vocab("")
    vocab = data.Vocab.from_text("ab")
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        vocab.decode([1, 3])
    with pytest.raises(TypeError, match="integer ids"):
        vocab.decode(np.array([1.0]))


# ------------------------------------------------------------------------------------ batches
def test_split_corpus_holds_out_the_end():
    ids = np.arange(100)
    train, held = data.split_corpus(ids)
    assert train.tolist() == list(range(90)) and held.tolist() == list(range(90, 100))
    with pytest.raises(ValueError, match="fraction"):
        data.split_corpus(ids, held_out=1.0)
    with pytest.raises(ValueError, match="too few"):
        data.split_corpus(np.arange(3), held_out=0.1)


def test_char_batches_targets_are_the_next_characters():
    ids = np.arange(1000)
    a, b = generators()
    x, y = data.char_batches(ids, 4, 16, a)
    assert x.shape == y.shape == (16, 4) and x.dtype == y.dtype == np.int64
    assert np.array_equal(y[:-1], x[1:]) and np.array_equal(y, x + 1)
    x2, y2 = data.char_batches(ids, 4, 16, b)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    with pytest.raises(ValueError, match="too few"):
        data.char_batches(np.arange(10), 2, 10, a)


# ------------------------------------------------------------------------------------ tasks
@pytest.mark.parametrize("length", [2, 3, 50])
def test_adding_problem(length):
    a, b = generators(7)
    x, y = data.adding_problem(64, length, a)
    assert x.shape == (length, 64, 2) and x.dtype == np.float32
    assert y.shape == (64, 1) and y.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = length // 2
    assert np.all(markers[:half].sum(axis=0) == 1)          # one in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=0), rtol=1e-6)
    x2, y2 = data.adding_problem(64, length, b)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_adding_problem_baseline_is_one_sixth():
    _, y = data.adding_problem(20_000, 10, np.random.default_rng(0))
    assert abs(np.mean((y - 1) ** 2) - 1 / 6) < 0.01


def test_copy_memory():
    a, b = generators(3)
    length, copy_len = 20, 10
    inputs, targets = data.copy_memory(32, length, a)
    total = length + 2 * copy_len
    assert inputs.shape == targets.shape == (total, 32) and inputs.dtype == np.int64
    symbols = inputs[:copy_len]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert np.all(inputs[copy_len:length + copy_len - 1] == 0)
    assert np.all(inputs[length + copy_len - 1] == 9)       # the delimiter
    assert np.all(inputs[length + copy_len:] == 0)
    assert np.all(targets[:length + copy_len] == 0)
    assert np.array_equal(targets[-copy_len:], symbols)
    again = data.copy_memory(32, length, b)
    assert np.array_equal(inputs, again[0]) and np.array_equal(targets, again[1])


def test_sequence_classification():
    a, b = generators(5)
    x, y = data.sequence_classification(2000, 50, a)
    assert x.shape == (50, 2000, 1) and x.dtype == np.float32
    assert y.shape == (2000,) and y.dtype == np.int64
    assert np.array_equal(y, x[:, :, 0].astype(np.float64).mean(axis=0) > 0.5)
    assert 0.45 < y.mean() < 0.55                            # balanced classes
    x2, y2 = data.sequence_classification(2000, 50, b)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_tasks_refuse_sequences_too_short():
    with pytest.raises(ValueError, match="at least 2"):
        data.adding_problem(4, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive"):
        data.sequence_classification(4, 0, np.random.default_rng(0))


def test_copy_memory_refuses_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        data.copy_memory(4, 0, np.random.default_rng(0))
