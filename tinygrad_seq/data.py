"""Data for recurrent networks: a text corpus with a character vocabulary, and classic tasks.

Text
    load_corpus(path=None)      the standard library's documentation topics, or a UTF-8 file
    Vocab                       characters <-> int64 ids, with an unknown-character symbol
    split_corpus(ids)           training ids and held-out ids (the last 10%)
    char_batches(ids, ...)      random windows for a character-level language model

Tasks with long-range dependencies
    adding_problem(n, length, rng)           regression: the sum of two marked values
    copy_memory(n, length, rng)              recall 10 symbols after `length` blank steps
    sequence_classification(n, length, rng)  the seed tutorial's setup, labels that can be learned

Sequence-to-sequence tasks (ids: 0 padding, 1 begin-of-sequence, 2.. symbols)
    reverse_sequence(n, length, rng)         the symbols in reverse order
    dates(n, count, rng)                     "3 March 2021; ..." -> "2021-03-03 ..."

Every sequence comes time-major, (seq_len, batch, ...), the default layout of nn.RNN/LSTM/GRU
(use `.transpose(0, 1)` for batch_first models). Randomness comes only from the numpy Generator
passed in: the same seed gives the same data.
"""
import pathlib

import numpy as np

from .tensor import Tensor


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------
def load_corpus(path=None):
    """The text of a UTF-8 file, or with no path the documentation topics that ship with every
    Python (`pydoc_data.topics`: the language reference behind `help("if")`, ~465,000
    characters of English), joined in sorted topic order so every run sees the same text."""
    if path is None:
        from pydoc_data.topics import topics
        return "\n\n".join(topics[name] for name in sorted(topics))
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_corpus: no file at {path}")
    if not path.is_file():
        raise IsADirectoryError(f"load_corpus: {path} is not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"load_corpus: {path} is not UTF-8 text (byte {e.start} is "
                         f"{raw[e.start:e.start + 1]!r}); convert it, e.g. with "
                         f"`iconv -f latin1 -t utf-8`") from None
    if not text:
        raise ValueError(f"load_corpus: {path} is empty")
    return text


class Vocab:
    """A character vocabulary: id 0 is the unknown symbol, ids 1.. the known characters in sorted
    order. Text outside the vocabulary encodes to 0 and decodes to `Vocab.UNK`.

        vocab = Vocab.from_text(corpus)
        ids = vocab.encode("hello")               # int64 array
        vocab.decode(ids) == "hello"
        nn.utils.save(path, model, vocab=vocab.to_list())       # and Vocab.from_list(...) back
    """

    UNK = "\ufffd"   # U+FFFD, the Unicode replacement character

    def __init__(self, chars):
        chars = set(chars) - {self.UNK}
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad or not chars:
            raise ValueError("Vocab: expected a non-empty collection of single characters"
                             + (f", got {bad[:5]!r}" if bad else ""))
        chars = sorted(chars)
        self.itos = [self.UNK] + chars
        self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)   # sorted code points

    @classmethod
    def from_text(cls, text):
        return cls(text)

    @classmethod
    def from_list(cls, chars):
        """The vocabulary saved by `to_list()` (in a checkpoint's extras, say)."""
        return cls(chars)

    def to_list(self):
        """The known characters in id order (ids 1..), a JSON-friendly list of strings."""
        return self.itos[1:]

    def __len__(self):
        return len(self.itos)

    def __repr__(self):
        return f"Vocab({len(self)} symbols, unknown {self.UNK!r} at id 0)"

    def encode(self, text):
        """int64 ids of shape (len(text),); characters outside the vocabulary become 0."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        slot = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
        known = self._codes[slot] == codes
        return np.where(known, slot + 1, 0).astype(np.int64)

    def decode(self, ids):
        """The text of a sequence of ids (an array, a list or a Tensor); 0 gives `Vocab.UNK`."""
        ids = np.asarray(ids.array if isinstance(ids, Tensor) else ids).reshape(-1)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Vocab.decode: expected integer ids, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"Vocab.decode: ids must be in [0, {len(self)}), got values from "
                             f"{ids.min()} to {ids.max()}")
        return "".join(self.itos[i] for i in ids.tolist())


def split_corpus(ids, held_out=0.1):
    """(train, held_out) with the last `held_out` fraction of the ids held out: text is not
    shuffled, so held-out text is text the model never read."""
    if not 0 < held_out < 1:
        raise ValueError(f"split_corpus: held_out must be a fraction in (0, 1), got {held_out}")
    cut = len(ids) - int(round(len(ids) * held_out))
    if cut <= 0 or cut >= len(ids):
        raise ValueError(f"split_corpus: {len(ids)} ids are too few to hold out {held_out:.0%}")
    return ids[:cut], ids[cut:]


def char_batches(ids, batch_size, seq_len, rng):
    """One batch of random windows for next-character prediction: inputs and targets, int64
    arrays of shape (seq_len, batch_size), targets[t] = inputs[t + 1] (the next character)."""
    if len(ids) < seq_len + 1:
        raise ValueError(f"char_batches: {len(ids)} ids are too few for windows of "
                         f"seq_len={seq_len} (+1 for the targets)")
    starts = rng.integers(0, len(ids) - seq_len, size=batch_size)
    windows = np.asarray(ids)[starts[None, :] + np.arange(seq_len + 1)[:, None]]
    return windows[:-1].astype(np.int64), windows[1:].astype(np.int64)


# ---------------------------------------------------------------------------------------------
# tasks with long-range dependencies
# ---------------------------------------------------------------------------------------------
def adding_problem(n, length, rng):
    """The adding problem (Hochreiter & Schmidhuber 1997; the version of Le, Jaitly & Hinton
    2015 and Arjovsky et al. 2016).

    Each step holds [value, marker]: values are uniform in [0, 1); exactly two steps are marked
    with 1, one in the first half of the sequence and one in the second. The target is the sum
    of the two marked values, so the network must carry the first one across ~length/2 steps.
    Always answering 1 (the mean) scores an MSE of 1/6 ~ 0.167 (the variance of the sum of two
    uniforms): a model beats that only by remembering.

    Returns x float32 (length, n, 2) and y float32 (n, 1).
    """
    if length < 2:
        raise ValueError(f"adding_problem: length must be at least 2, got {length}")
    values = rng.random((length, n), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((length, n), dtype=np.float32)
    columns = np.arange(n)
    markers[first, columns] = 1
    markers[second, columns] = 1
    x = np.stack([values, markers], axis=-1)
    y = (values[first, columns] + values[second, columns])[:, None]
    return x, y


def copy_memory(n, length, rng, num_symbols=8, copy_len=10):
    """The copy-memory task (Arjovsky, Shah & Bengio 2016).

    Input: copy_len symbols drawn from 1..num_symbols, then length - 1 blanks (0), a delimiter
    (num_symbols + 1) and copy_len more blanks. Target: blanks for length + copy_len steps, then
    the copy_len symbols: the network must hold them through the delay and replay them once it
    sees the delimiter. Sequences have length + 2 * copy_len steps and
    num_symbols + 2 classes.

    A memoryless model that answers blank and then guesses uniformly scores a cross-entropy of
    copy_len * ln(num_symbols) / (length + 2 * copy_len) per step (0.17 for length=100).

    Returns inputs and targets, int64 arrays of shape (length + 2 * copy_len, n).
    """
    if length < 1 or copy_len < 1 or num_symbols < 1:
        raise ValueError(f"copy_memory: length, copy_len and num_symbols must be positive, got "
                         f"{length}, {copy_len}, {num_symbols}")
    total = length + 2 * copy_len
    symbols = rng.integers(1, num_symbols + 1, size=(copy_len, n))
    inputs = np.zeros((total, n), dtype=np.int64)
    targets = np.zeros((total, n), dtype=np.int64)
    inputs[:copy_len] = symbols
    inputs[length + copy_len - 1] = num_symbols + 1
    targets[-copy_len:] = symbols
    return inputs, targets


def sequence_classification(n, length, rng):
    """The seed tutorial's setup (sequences of uniform numbers in [0, 1), two classes) with a
    label that can be learned: 1 when the sequence's mean exceeds 0.5. No single step decides
    it, so the network must accumulate evidence over the whole sequence; classes are balanced,
    so chance is 50% accuracy and a cross-entropy of ln 2 = 0.693.

    Returns x float32 (length, n, 1) and y int64 (n,).
    """
    if length < 1:
        raise ValueError(f"sequence_classification: length must be positive, got {length}")
    x = rng.random((length, n, 1), dtype=np.float32)
    y = (x.mean(axis=(0, 2), dtype=np.float64) > 0.5).astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------------------------
# sequence to sequence
# ---------------------------------------------------------------------------------------------
PAD, BOS = 0, 1     # ids every sequence-to-sequence task shares; its symbols start at 2


def reverse_sequence(n, length, rng, num_symbols=10):
    """Reverse a sequence of `length` symbols drawn from num_symbols (ids 2 .. num_symbols + 1).
    The first output symbol is the last input one: without attention, a decoder must recall
    the whole sequence from the encoder's final state.

    Returns src and tgt, int64 arrays of shape (length, n) (no padding: one length per batch).
    """
    if length < 1 or num_symbols < 1:
        raise ValueError(f"reverse_sequence: length and num_symbols must be positive, got "
                         f"{length}, {num_symbols}")
    src = rng.integers(2, num_symbols + 2, size=(length, n))
    return src, src[::-1].copy()


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DATE_FORMATS = ("{d} {month} {y}", "{month} {d}, {y}", "{d} {mon} {y}", "{d}.{m}.{y}")
DATE_CHARS = sorted(set("".join(MONTHS) + "0123456789 ,.;-"))
DATE_IDS = {c: i + 2 for i, c in enumerate(DATE_CHARS)}     # after PAD and BOS
DATE_SYMBOLS = len(DATE_CHARS) + 2


def dates(n, count, rng, years=(1900, 2099)):
    """Date-format translation: `count` dates written in one of four styles ("3 March 2021",
    "March 3, 2021", "3 Mar 2021", "3.3.2021") and joined with "; ", to ISO 8601 dates
    ("2021-03-03") joined with " ". The target has 11 * count - 1 characters; the source
    (16 on average per date) is padded at the start with PAD so that every source in the
    batch ends on its last character.

    Returns src (S, n), tgt (11 * count - 1, n) int64 character ids (DATE_IDS) and the texts:
    (src, tgt, (source strings, target strings)).
    """
    if count < 1:
        raise ValueError(f"dates: count must be positive, got {count}")
    days = (np.datetime64(f"{years[0]}-01-01") + rng.integers(
        0, (np.datetime64(f"{years[1] + 1}-01-01") - np.datetime64(f"{years[0]}-01-01")).astype(
            int), size=(n, count))).astype(object)
    styles = rng.integers(0, len(DATE_FORMATS), size=(n, count))
    sources, targets = [], []
    for row, style_row in zip(days, styles):
        sources.append("; ".join(DATE_FORMATS[k].format(
            d=day.day, m=day.month, y=day.year, month=MONTHS[day.month - 1],
            mon=MONTHS[day.month - 1][:3]) for day, k in zip(row, style_row)))
        targets.append(" ".join(day.isoformat() for day in row))
    width = max(map(len, sources))
    src = np.full((width, n), PAD, dtype=np.int64)
    for j, text in enumerate(sources):
        src[width - len(text):, j] = [DATE_IDS[c] for c in text]
    tgt = np.array([[DATE_IDS[c] for c in text] for text in targets], dtype=np.int64).T
    return src, tgt, (sources, targets)


def decode_dates(ids):
    """The text of date-task ids (PAD and BOS dropped)."""
    chars = {i: c for c, i in DATE_IDS.items()}
    return "".join(chars.get(int(i), "") for i in np.asarray(ids).reshape(-1))
