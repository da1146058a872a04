"""Training runs of the `tinygrad-seq` command (cli.py parses the arguments and reports).

    SequenceModel, CharLM, Adding, Copy, Classify     the model and the tasks
    Seq2SeqModel, Reverse, Dates                      sequence to sequence (--model)
    Range, check_config, check_checkpoint_config      what each setting accepts
    memory_estimate, check_memory                     sizes are bounded by what fits
    build, train, train_step, save_checkpoint,        training, with checkpoints between steps
    load_checkpoint                                   and everything in a checkpoint checked
    StopSignals                                       SIGINT, SIGTERM, SIGHUP: stop at a step
                                                      boundary, save, exit 128 + the signal

A checkpoint holds exactly the state between two steps (parameters, Adam's state, the data
generator, the step), so a run stopped at any moment and resumed gives the same checkpoint, to
the byte, as a run never stopped. Input that cannot work raises UsageError before anything is
built or trained.
"""
import contextlib
import hashlib
import math
import os
import signal
import time

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import data, nn, optim
from tinygrad_seq.generator import rng as package_rng

SEQ2SEQ_TASKS = ("reverse", "dates")
TASKS = ("charlm", "adding", "copy", "classify") + SEQ2SEQ_TASKS
CELLS = ("rnn", "lstm", "gru")
MODELS = ("seq2seq", "seq2seq-attention", "transformer")     # for SEQ2SEQ_TASKS
EXIT_SAVE_FAILED, EXIT_USAGE, EXIT_DIVERGED = 1, 2, 3      # and 128 + a signal's number


class UsageError(Exception):
    """Input the command refuses; reported with exit status 2."""


class Stop(Exception):
    """Training stopped before its end (the message says why and what was kept)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class Interrupted(BaseException):
    """A signal stopped the command (a BaseException, so that no `except Exception` eats it)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class NonFinite(Exception):
    """A loss or gradient is inf or nan (raised before the update it would spoil)."""


# ---------------------------------------------------------------------------------------------
# the model: an input layer, recurrent layers, a linear head
# ---------------------------------------------------------------------------------------------
class SequenceModel(nn.Module):
    """Symbols (through an embedding) or features -> RNN/LSTM/GRU layers -> a linear head on
    every step (language models, copying) or on the last step (adding, classification)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        if config["symbols"]:
            self.embed = nn.Embedding(config["symbols"], config["embedding"])
            width = config["embedding"]
        else:
            width = config["features"]
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config["cell"]]
        p, layers = config["dropout"], config["layers"]
        self.rnn = layer(width, config["hidden"], num_layers=layers,
                         dropout=p if layers > 1 else 0.0)
        self.dropout = nn.Dropout(p)
        self.head = nn.Linear(config["hidden"], config["outputs"])

    def forward(self, x, hx=None):
        """x (T, B) symbols or (T, B, F) features -> (outputs, state); outputs (T, B, C) on
        every step, or (B, C) from the last one. Dropout (in training) on the embedded
        symbols, between recurrent layers and on the last layer's output, as in PyTorch's
        word-level language model; given features are used as they are."""
        if self.config["symbols"]:
            x = self.dropout(self.embed(x))
        out, hx = self.rnn(x, hx)
        return self.head(self.dropout(out if self.config["every_step"] else out[-1])), hx


# ---------------------------------------------------------------------------------------------
# tasks: batches, loss, held-out evaluation
# ---------------------------------------------------------------------------------------------
class CharLM:
    """Next-character prediction on a text; held-out: its last 10%, read as 32 streams."""
    every_step, metric = True, "bits per character"
    streams = 32

    def __init__(self, config, text=None, source=None):
        self.vocab = data.Vocab.from_list(config["vocab"]) if "vocab" in config else \
            _vocab_of(text, source)
        self.train_ids = self.held_out = None
        if text is not None:
            _check_text(text, self.vocab, config, source)
            self.train_ids, self.held_out = data.split_corpus(self.vocab.encode(text))
        config.update(vocab=self.vocab.to_list(), symbols=len(self.vocab),
                      outputs=len(self.vocab), features=0)

    def batch(self, rng, config):
        x, y = data.char_batches(self.train_ids, config["batch"], config["seq_len"], rng)
        return ts.Tensor(x), ts.Tensor(y)

    @staticmethod
    def loss(output, y):
        return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]), y.reshape(-1))

    @staticmethod
    def report(loss):
        return {"loss": loss, "bpc": loss / math.log(2)}

    @ts.no_grad()
    def evaluate(self, model, config):
        streams = self.streams
        usable = (len(self.held_out) - 1) // streams
        ids = self.held_out[:usable * streams + 1]
        x = ids[:-1].reshape(streams, usable).T      # (time, stream): contiguous text per stream
        y = ids[1:].reshape(streams, usable).T
        total, hx = 0.0, None
        for start in range(0, usable, config["seq_len"]):
            out, hx = model(ts.Tensor(x[start:start + config["seq_len"]]), hx)
            chunk = y[start:start + config["seq_len"]]
            total += self.loss(out, ts.Tensor(chunk)).item() * chunk.size
        return self.report(total / (usable * streams))


def evaluate(task, model, config):
    """The task's held-out scores, with the model in eval mode (no dropout) for them."""
    with evaluating(model):
        return task.evaluate(model, config)


@contextlib.contextmanager
def evaluating(model):
    """The block runs with `model` in eval mode; it goes back to its mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _vocab_of(text, source):
    try:
        return data.Vocab.from_text(text)
    except ValueError:
        raise UsageError(f"{_text_name(source)} holds no character but U+FFFD (the "
                         f"replacement character, which stands for unknown ones): nothing to "
                         f"learn") from None


def _check_text(text, vocab, config, source):
    """Refuse a text (read from `source`) with characters outside the model's vocabulary
    (naming them), or too short for training windows of seq_len + 1 characters and a held-out
    part (the last 10%) of at least one character per stream and a target."""
    unknown = sorted(set(text) - set(vocab.itos))
    if unknown:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X}, " + (
            "once)" if text.count(c) == 1 else f"{text.count(c):,} times)") for c in unknown[:10])
        raise UsageError(f"{_text_name(source)} holds {len(unknown)} characters that "
                         f"are not in the checkpoint's vocabulary: {shown}"
                         f"{', ...' if len(unknown) > 10 else ''}; the model has no input or "
                         f"output for them")

    def enough(n):
        held = int(round(n * 0.1))        # as data.split_corpus cuts
        return n - held >= config["seq_len"] + 1 and held >= CharLM.streams + 1

    if not enough(len(text)):
        least = max(int((config["seq_len"] + 1) / 0.9) - 2, 10 * CharLM.streams)
        while not enough(least):
            least += 1
        raise UsageError(f"{_text_name(source)} has {len(text):,} characters; "
                         f"--seq-len {config['seq_len']} needs at least {least:,} (training "
                         f"windows of seq_len + 1 characters, and the last 10% held out and read "
                         f"as {CharLM.streams} streams)")


def _text_name(path):
    return "Python's documentation (the default text)" if path is None else f"the text {path}"


class _Generated:
    """Tasks drawn from a generator in data.py; held-out: 1,000 fresh sequences."""
    held_out_sequences = 1000

    def __init__(self, config, text=None, source=None):
        config.update(self.shape)

    @staticmethod
    def report(loss):
        return {"loss": loss}

    def evaluate(self, model, config):
        x, y = self.make(self.held_out_sequences, config["seq_len"],
                         np.random.default_rng(config["seed"] + 10_000))
        with ts.no_grad():
            out, _ = model(ts.Tensor(x))
            return self.scores(out, ts.Tensor(y))

    def batch(self, rng, config):
        x, y = self.make(config["batch"], config["seq_len"], rng)
        return ts.Tensor(x), ts.Tensor(y)


class Adding(_Generated):
    """The adding problem: mean squared error of the sum (always answering 1 gives 0.167)."""
    every_step, metric = False, "mean squared error"
    shape = dict(symbols=0, features=2, outputs=1)
    make = staticmethod(data.adding_problem)

    @staticmethod
    def loss(output, y):
        return nn.functional.mse_loss(output, y)

    @staticmethod
    def report(loss):
        return {"mse": loss}

    def scores(self, out, y):
        return self.report(self.loss(out, y).item())


class Copy(_Generated):
    """Copy-memory: cross-entropy per step and accuracy on the copied symbols."""
    every_step, metric = True, "cross-entropy"
    shape = dict(symbols=10, embedding=16, features=0, outputs=10)
    copied = 10     # symbols to recall: data.copy_memory's copy_len

    @staticmethod
    def make(n, length, rng):
        return data.copy_memory(n, length, rng)

    loss = staticmethod(CharLM.loss)

    def scores(self, out, y):
        copied = (out.argmax(dim=-1).numpy() == y.numpy())[-self.copied:].mean()
        return {"loss": self.loss(out, y).item(), "copy accuracy": float(copied)}


class Classify(_Generated):
    """Sequence classification (is the mean above 0.5?): cross-entropy and accuracy."""
    every_step, metric = False, "cross-entropy"
    shape = dict(symbols=0, features=1, outputs=2)
    make = staticmethod(data.sequence_classification)

    @staticmethod
    def loss(output, y):
        return nn.functional.cross_entropy(output, y)

    def scores(self, out, y):
        return {"loss": self.loss(out, y).item(),
                "accuracy": float((out.argmax(dim=1) == y).numpy().mean())}


# ---------------------------------------------------------------------------------------------
# sequence to sequence: the models of nn/seq2seq.py, tasks that grow with --seq-len
# ---------------------------------------------------------------------------------------------
TRANSFORMER_HEADS = 4       # --model transformer: d_model = --hidden, 4 heads, feed-forward 2 x


class Seq2SeqBatch:
    """A batch of a sequence-to-sequence task: src (S, N) ids, tgt_in (T, N) (BOS, then the
    target but its last symbol) and the source's padding mask (N, S) (None: no padding)."""

    def __init__(self, src, tgt):
        self.src = ts.Tensor(src)
        self.tgt_in = ts.Tensor(np.concatenate([np.full((1, tgt.shape[1]), data.BOS), tgt[:-1]]))
        padding = src.T == data.PAD
        self.mask = ts.Tensor(padding) if padding.any() else None


class Seq2SeqModel(nn.Module):
    """--model seq2seq (a GRU/LSTM/RNN encoder-decoder), seq2seq-attention (the same with
    Bahdanau's additive attention) or transformer (nn.TransformerSeq2Seq: d_model --hidden,
    --layers encoder and decoder layers, 4 heads, feed-forward 2 x --hidden, no dropout)."""

    def __init__(self, config):
        super().__init__()
        V, hidden = config["symbols"], config["hidden"]
        if config["model"] == "transformer":
            self.net = nn.TransformerSeq2Seq(V, V, hidden, TRANSFORMER_HEADS, config["layers"],
                                             2 * hidden, max_len=max(
                                                 *TASK_CLASSES[config["task"]].lengths(
                                                     config["seq_len"])) + 1)
        else:
            self.net = nn.Seq2Seq(V, V, config["embedding"], hidden, cell=config["cell"],
                                  attention="additive" if config["model"] ==
                                  "seq2seq-attention" else None)

    def forward(self, batch, hx=None):
        logits, _ = self.net(batch.src, batch.tgt_in, batch.mask)
        return logits, None

    def greedy(self, batch):
        return self.net.greedy(batch.src, batch.tgt_in.shape[0], data.BOS, batch.mask)[0]


class _Seq2SeqTask:
    """Each training batch has one length, drawn uniformly from 1 .. --seq-len; held-out:
    200 fresh sequences at each of (about) a quarter, half, three quarters and all of
    --seq-len, decoded greedily. Sequence accuracy counts a sequence right only if every
    symbol is."""
    every_step, metric = True, "cross-entropy"
    held_out_per_length = 200

    def __init__(self, config, text=None, source=None):
        config.update(symbols=self.symbols, outputs=self.symbols, features=0)

    loss = staticmethod(CharLM.loss)

    @staticmethod
    def report(loss):
        return {"loss": loss}

    def batch(self, rng, config):
        src, tgt = self.make(config["batch"], int(rng.integers(1, config["seq_len"] + 1)), rng)
        return Seq2SeqBatch(src, tgt), ts.Tensor(tgt)

    @staticmethod
    def eval_lengths(seq_len):
        return sorted({max(1, round(seq_len * k / 4)) for k in range(1, 5)})

    @ts.no_grad()
    def evaluate(self, model, config):
        scores, losses, right = {}, [], []
        for length in self.eval_lengths(config["seq_len"]):
            src, tgt = self.make(self.held_out_per_length, length,
                                 np.random.default_rng(config["seed"] + 10_000 + length))
            batch = Seq2SeqBatch(src, tgt)
            out, _ = model(batch)
            losses.append(self.loss(out, ts.Tensor(tgt)).item())
            correct = (model.greedy(batch).numpy() == tgt).all(axis=0)
            right.append(correct)
            scores[f"sequence accuracy at {self.unit} {length}"] = float(correct.mean())
        return {"loss": float(np.mean(losses)),
                "sequence accuracy": float(np.concatenate(right).mean()), **scores}


class Reverse(_Seq2SeqTask):
    """Reverse a sequence of --seq-len (at most) symbols from 10."""
    symbols, unit = 12, "length"      # PAD, BOS and 10 symbols

    @staticmethod
    def make(n, length, rng):
        return data.reverse_sequence(n, length, rng)

    @staticmethod
    def lengths(seq_len):
        """(longest source, longest target)"""
        return seq_len, seq_len

    @staticmethod
    def labels(ids):
        return [str(int(i) - 2) for i in ids]     # the symbols as 0 .. 9


class Dates(_Seq2SeqTask):
    """Translate --seq-len (at most) dates in four styles to ISO 8601 dates."""
    symbols, unit = data.DATE_SYMBOLS, "dates"

    @staticmethod
    def make(n, count, rng):
        return data.dates(n, count, rng)[:2]

    @staticmethod
    def lengths(seq_len):
        return 20 * seq_len - 2, 11 * seq_len - 1    # "September 30, 2099; " is 20 characters

    @staticmethod
    def labels(ids):
        return list(data.decode_dates(ids))


TASK_CLASSES = {"charlm": CharLM, "adding": Adding, "copy": Copy, "classify": Classify,
                "reverse": Reverse, "dates": Dates}


def sequence_steps(config):
    """Time steps of one training sequence (copy-memory adds the symbols and their recall)."""
    return config["seq_len"] + (2 * Copy.copied if config["task"] == "copy" else 0)


# ---------------------------------------------------------------------------------------------
# settings: the values each accepts, checked before anything is built or trained
# ---------------------------------------------------------------------------------------------
class Range:
    """The accepted values of a number: whole numbers from `low`, or finite numbers above `low`;
    at most `high`. Sizes have no fixed upper bound: memory sets it (check_memory)."""

    def __init__(self, kind, low, high=None):
        self.kind, self.low, self.high = kind, low, high

    def __contains__(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int:
            low_ok = isinstance(value, int) and value >= self.low
        else:
            try:
                low_ok = math.isfinite(value) and value > self.low
            except OverflowError:       # an int beyond float's range
                return False
        return low_ok and (self.high is None or value <= self.high)

    def __str__(self):
        what = "an integer" if self.kind is int else "a finite number"
        low = f">= {self.low}" if self.kind is int else f"> {self.low:g}"
        return f"{what} {low}" + (f" and <= {self.high:,}" if self.high is not None else "")


class Probability(Range):
    """A probability that may be 0 but not 1 (dropout's: 1 would drop everything)."""

    def __init__(self):
        super().__init__(float, 0.0, 1.0)

    def __contains__(self, value):     # (Range's floats are above low: 0 is let in here)
        if value == 0 and not isinstance(value, bool):
            return True
        return super().__contains__(value) and value < 1

    def __str__(self):
        return "a number >= 0 and < 1"


SEED_RANGE = Range(int, 0, 2**64 - 1)          # torch.manual_seed's (numpy takes any seed >= 0)
MINUTES = Range(float, 0, 10**6)               # about two years
# a configuration's settings (flags --hidden, --seq-len, ...; embedding is fixed by the task)
RANGES = {"hidden": Range(int, 1), "layers": Range(int, 1), "seq_len": Range(int, 1),
          "batch": Range(int, 1), "embedding": Range(int, 1), "lr": Range(float, 0),
          "clip": Range(float, 0), "tbptt": Range(int, 0), "dropout": Probability(),
          "seed": SEED_RANGE}
# settings a --resume may change with --override; the others define the run
ADJUSTABLE = ("seq_len", "batch", "lr", "clip", "tbptt", "dropout")
TEXT_RECORD = ("text", "text_sha256")      # charlm's record of its text (see text_settings)
DERIVED = ("symbols", "features", "outputs", "every_step")  # filled in by the task


def flag(key):
    return "--" + key.replace("_", "-")


def check_config(config, name=flag):
    """Refuse (UsageError) settings out of range or that do not fit together; `name(key)` names
    a setting in the message (its flag, by default)."""
    for key, accepted in RANGES.items():
        if config[key] not in accepted:
            raise UsageError(f"{name(key)} must be {accepted}, got {config[key]!r}")
    if config["task"] == "adding" and config["seq_len"] < 2:
        raise UsageError(f"{name('seq_len')} must be at least 2 for the adding problem (it "
                         f"marks a value in each half of the sequence), got {config['seq_len']}")
    if config["task"] in SEQ2SEQ_TASKS:
        _check_seq2seq_config(config, name)
    if config["tbptt"]:
        if not TASK_CLASSES[config["task"]].every_step:
            raise UsageError(f"{name('tbptt')} needs a task with a loss at every step (charlm, "
                             f"copy), not {config['task']}")
        steps = sequence_steps(config)
        if config["tbptt"] > steps:
            raise UsageError(f"{name('tbptt')} must be in [0, {steps}] (the {steps} steps of a "
                             f"sequence; 0: full backpropagation through time), got "
                             f"{config['tbptt']}")


def _check_seq2seq_config(config, name):
    if config.get("model") not in MODELS:
        raise UsageError(f"--model must be one of {', '.join(MODELS)} for --task "
                         f"{config['task']}, got {config.get('model')!r}")
    if config["tbptt"]:
        raise UsageError(f"{name('tbptt')} is for charlm and copy; a {config['task']} model "
                         f"backpropagates through the whole decoder and encoder")
    if config["dropout"]:
        raise UsageError(f"{name('dropout')} is for the recurrent models of charlm, adding, "
                         f"copy and classify, not for --task {config['task']}")
    if config["model"] == "transformer" and config["hidden"] % TRANSFORMER_HEADS:
        raise UsageError(f"{name('hidden')} must be divisible by {TRANSFORMER_HEADS} for "
                         f"--model transformer (d_model, split over {TRANSFORMER_HEADS} heads), "
                         f"got {config['hidden']}")
    if config["model"] != "transformer" and config["layers"] != 1:
        raise UsageError(f"{name('layers')} must be 1 for --model {config['model']} (one "
                         f"encoder and one decoder layer), got {config['layers']}")


def check_checkpoint_config(config, path):
    """Refuse a checkpoint's configuration that this version could not rebuild exactly."""
    def refuse(why):
        return UsageError(f"{path} is not a usable tinygrad-seq checkpoint: {why}")

    if not isinstance(config, dict):
        raise refuse("its config is not a dictionary")
    if config.get("task") not in TASKS or config.get("cell") not in CELLS:
        raise refuse(f"its config names task {config.get('task')!r} and cell "
                     f"{config.get('cell')!r}; expected one of {', '.join(TASKS)} and one of "
                     f"{', '.join(CELLS)}")
    expected = {"task", "cell", *RANGES} | ({"vocab"} if config["task"] == "charlm" else set()) \
        | ({"model"} if config["task"] in SEQ2SEQ_TASKS else set())
    missing = sorted(expected - set(config))
    unknown = sorted(set(config) - expected - set(DERIVED)
                     - set(TEXT_RECORD if config["task"] == "charlm" else ()))
    if missing or unknown:
        raise refuse("its config " + " and ".join(
            ([f"lacks {missing}"] if missing else []) + ([f"has unknown {unknown}"] if unknown
                                                         else []))
                     + " (written by another version of tinygrad-seq?)")
    try:
        check_config(config, name=lambda key: f"its config's {key}")
    except UsageError as e:
        raise refuse(e) from None
    if config["task"] == "charlm":
        vocab = config["vocab"]
        if not (isinstance(vocab, list) and vocab and len(set(vocab)) == len(vocab)
                and all(isinstance(c, str) and len(c) == 1 and c != data.Vocab.UNK
                        for c in vocab)):
            raise refuse("its vocabulary is not a list of distinct characters")
        recorded = [key in config for key in TEXT_RECORD]   # neither: written before texts were
        if any(recorded) and not (                             # recorded (load_checkpoint)
                all(recorded) and (config["text"] is None or isinstance(config["text"], str))
                and isinstance(config["text_sha256"], str) and len(config["text_sha256"]) == 64
                and set(config["text_sha256"]) <= set("0123456789abcdef")):
            raise refuse("its text is not a path (or null) and a SHA-256")


def text_settings(path, text):
    """A charlm config's record of its text: the file (None: Python's documentation) and a
    SHA-256 of the text, which a resume checks to continue on the same text."""
    return {"text": None if path is None else os.path.abspath(path),
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


# ---------------------------------------------------------------------------------------------
# memory: sizes are bounded by what fits
# ---------------------------------------------------------------------------------------------
BASE_MEMORY = 200 * 10**6   # Python, numpy, numba and the kernels, measured: ~150 MB


def memory_estimate(config):
    """Bytes of memory for `config` (its sizes filled in by the task), roughly: parameters,
    their gradients and Adam's two moments (x 5: the fused layers stack a copy of the weights);
    what a training step keeps for backward and the gradients it makes (x 2); the held-out
    evaluation, one layer at a time. Within about 15% of peak RSS measured on the four tasks at
    sizes of 0.4 to 7 GB. Returns (parameters, {part: bytes})."""
    if config["task"] in SEQ2SEQ_TASKS:
        return seq2seq_memory_estimate(config)
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[config["cell"]]
    hidden, layers, outputs = config["hidden"], config["layers"], config["outputs"]
    width = config["embedding"] if config["symbols"] else config["features"]
    parameters = (config["symbols"] * config["embedding"] + (hidden + 1) * outputs
                  + gates * hidden * (width + hidden + 2)
                  + (layers - 1) * gates * hidden * (2 * hidden + 2))
    # floats a layer keeps per sequence and time step: [h | 1 | x], the gates, cell state, output
    first, others = width + 1 + hidden + gates * hidden + 2 * hidden, (3 + gates) * hidden + 1
    # (dropout's masks are not counted: with dropout 0.2 the peak at hidden 1024 measured the
    # same, 424 MB against 434 MB without)
    head = width + (3 * outputs if config["every_step"] else 0)
    steps = sequence_steps(config)
    rows = CharLM.streams if config["task"] == "charlm" else _Generated.held_out_sequences
    floats = 4
    return parameters, {
        "the model, its gradients and Adam's state": floats * 5 * parameters,
        "a training step": floats * 2 * (head + first + (layers - 1) * others)
        * (config["tbptt"] or steps) * config["batch"],
        "the held-out evaluation": floats * rows * (config["seq_len"] if config["task"] ==
                                                    "charlm" else steps)
        * (head + max(first, others) + hidden * layers)}


def seq2seq_memory_estimate(config):
    """memory_estimate for the sequence-to-sequence models, from their sizes (an estimate on
    the high side: every op's output and gradient kept, in float32)."""
    H, V, E, layers = config["hidden"], config["symbols"], config["embedding"], config["layers"]
    S, T = TASK_CLASSES[config["task"]].lengths(config["seq_len"])
    if config["model"] == "transformer":
        d, ff = H, 2 * H
        parameters = 2 * V * d + (d + 1) * V + (S + T + 1) * d + layers * (
            (4 * d * d + 2 * d * ff + 11 * d + ff) + (8 * d * d + 2 * d * ff + 17 * d + ff))
        # per sequence: ~12 activations of d (or ff) per position and layer, 3 score maps of
        # every head and attention, the logits
        per_sequence = layers * (12 * (S + 2 * T) * (d + ff)
                                 + 3 * TRANSFORMER_HEADS * (S * S + T * T + T * S)) + 3 * T * V
        held_out = per_sequence * 2        # greedy decoding re-reads every prefix
    else:
        gates = {"rnn": 1, "gru": 3, "lstm": 4}[config["cell"]]
        context = H if config["model"] == "seq2seq-attention" else 0
        parameters = 2 * V * E + gates * H * (2 * E + 2 * H + context + 4) + (H + context + 1) \
            * V + (2 * H * H + 2 * H if context else 0)
        # per sequence: the encoder's steps; each decoder step's cell and, with attention,
        # its (S, H) scores
        per_sequence = S * (E + 12 * H) + T * (E + 12 * H + 3 * V + (4 * S * H if context
                                                                     else 0))
        held_out = per_sequence
    floats = 4
    return parameters, {
        "the model, its gradients and Adam's state": floats * 4 * parameters,
        "a training step": floats * 2 * per_sequence * config["batch"],
        "the held-out evaluation": floats * held_out * _Seq2SeqTask.held_out_per_length}


def available_memory():
    """Bytes of memory available to a new process (None if the system does not say)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config, training, name=flag):
    """Refuse sizes whose estimated memory (memory_estimate) exceeds what is available;
    sampling and pictures need only the model."""
    _, parts = memory_estimate(config)
    if not training:
        parts = {"the model": parts["the model, its gradients and Adam's state"] * 2 // 5}
    need, have = BASE_MEMORY + sum(parts.values()), available_memory()
    if have is not None and need > have:
        sizes = " ".join(f"{name(k)} {config[k]}" for k in ("hidden", "layers", "batch", "seq_len"))
        raise UsageError(f"{sizes} need about {format_bytes(need)} of memory ("
                         + ", ".join(f"{part} {format_bytes(n)}" for part, n in parts.items())
                         + f"); {format_bytes(have)} are available")


def format_bytes(n):
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def build(config, text=None, source=None, training=True):
    """Task, model and optimizer for a checked configuration (the task fills in the model's
    sizes; what they need in memory is checked before the model is made). A charlm text comes
    from `source` (its file; None: Python's documentation)."""
    task = TASK_CLASSES[config["task"]](config, text, source)
    config["every_step"] = task.every_step
    check_memory(config, training)
    ts.manual_seed(config["seed"])
    model = Seq2SeqModel(config) if config["task"] in SEQ2SEQ_TASKS else SequenceModel(config)
    opt = optim.Adam(model.parameters(), lr=config["lr"])
    return task, model, opt


def train_step(task, model, opt, x, y, config):
    """One optimizer step (or, with tbptt=K, one per window of K steps); returns the loss. A
    loss or gradient that is not finite raises NonFinite before the update it would spoil."""
    def update(loss):
        norm = nn.utils.clip_grad_norm_(model.parameters(), config["clip"]).item()
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise NonFinite(f"the loss is {loss:g}, the gradient's norm {norm:g}")
        opt.step()
        opt.zero_grad()

    opt.zero_grad()
    if config["tbptt"]:
        windows = []

        def window_loss(out, start):
            windows.append(task.loss(out, y[start:start + out.shape[0]]))
            return windows[-1]

        losses, _ = nn.utils.truncated_bptt(model, x, config["tbptt"], window_loss,
                                            after_backward=lambda: update(windows[-1].item()))
        return float(np.mean(losses))
    out, _ = model(x)
    loss = task.loss(out, y)
    loss.backward()
    update(loss.item())
    return loss.item()


class StopSignals:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP, from install to uninstall.

    While training (inside `deferred()`), a signal asks it to stop at the end of the current
    step, so the checkpoint then saved holds the state between two steps. While a checkpoint is
    written (inside `saving()`), further signals wait for it ("saving, please wait"). At any
    other moment (start-up, the held-out evaluation) a signal stops the command at once by
    raising Interrupted; one that arrives where an exception cannot stop the program (Python
    only prints "Exception ignored") is still recorded, and training will not start. Once the
    command is stopping or done, further signals are ignored. The first signal sets the exit status,
    128 + its number. A signal the parent process set to be ignored (nohup's SIGHUP, a
    background job's SIGINT) stays ignored, as Python itself leaves it.
    """
    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self):
        self.received = None        # the first signal's number
        self.mode = "raise"         # or "deferred", "saving", "stopping"
        self._previous = {}

    def install(self):
        for sig in (getattr(signal, name) for name in self.NAMES if hasattr(signal, name)):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self, restore=True):
        """Restore the previous handlers; or, for a process about to exit, ignore the signals
        from now on (Python's exit would reset its handlers to the defaults, and a late SIGTERM
        would turn an exit status that says what was done into a kill)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if restore else signal.SIG_IGN)
        self._previous.clear()

    def _handle(self, signum, frame):
        first, self.received = self.received is None, self.received or signum
        if self.mode == "saving":
            say("tinygrad-seq: saving, please wait")
        elif self.mode == "deferred":
            if first:
                say(f"tinygrad-seq: {signal.Signals(signum).name}: stopping after this step, "
                     f"then saving a checkpoint")
        elif self.mode == "raise":
            self.mode = "stopping"
            raise Interrupted(self.received)

    @contextlib.contextmanager
    def deferred(self):
        """Signals in the block are recorded for the block to honour at a step boundary; one
        recorded stops the command when the block ends."""
        self.mode = "deferred"
        try:
            yield
        finally:
            self.mode = "stopping" if self.received else "raise"
        if self.received:
            raise Interrupted(self.received)

    @contextlib.contextmanager
    def saving(self):
        mode, self.mode = self.mode, "saving"
        try:
            yield
        finally:
            self.mode = mode


def _tell(text):
    """A line on stdout; after a hang-up the terminal may be gone, and that must not turn a
    clean stop into a traceback."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def say(text):
    """A line on stderr, safe inside a signal handler (no buffered stream that the interrupted
    code may be writing to) and after a hang-up (a terminal that is gone)."""
    with contextlib.suppress(OSError):
        os.write(2, f"\n{text}\n".encode())


MAX_SKIPPED = 10    # --on-nan skip: this many non-finite steps in a row stop training anyway


def train(task, model, opt, config, state, out_dir, plan, signals):
    """Train to plan["steps"] in total or for plan["seconds"], with a progress bar; returns the
    last loss (None if no step ran).

    Checkpoints are saved between steps only: every plan["save_every"] steps, every
    plan["save_seconds"] seconds, at the end, and when a signal asks training to stop (then
    Interrupted is raised after the save). A step whose loss or gradient is not finite is not
    applied; with plan["on_nan"] == "stop" (or after MAX_SKIPPED such steps in a row) training
    stops with Stop, keeping the last checkpoint. `state` holds the step count, the data
    generator and the last checkpoint written (restored on resume)."""
    from tqdm import tqdm

    steps, seconds = plan["steps"], plan["seconds"]
    bar = tqdm(total=steps if steps else int(seconds), initial=state["step"] if steps else 0,
               unit="step" if steps else "s", dynamic_ncols=True, mininterval=0.5,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
    start = last_save = time.monotonic()
    first_step, last, skipped = state["step"], None, 0

    def save():
        nonlocal last_save
        if not all(np.isfinite(p.numpy()).all() for p in model.parameters()):
            raise Stop(_diverged(state, f"after step {state['step']}, a parameter is inf or "
                                        f"nan"), EXIT_DIVERGED)
        with signals.saving():
            save_checkpoint(out_dir, model, opt, config, state)
        last_save = time.monotonic()

    with signals.deferred():
        try:
            while not signals.received and (state["step"] < steps if steps else
                                            time.monotonic() - start < seconds):
                x, y = task.batch(state["rng"], config)
                try:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        last, skipped = train_step(task, model, opt, x, y, config), 0
                except NonFinite as e:
                    skipped += 1
                    if plan["on_nan"] == "stop" or skipped == MAX_SKIPPED:
                        raise Stop(_diverged(state, f"step {state['step'] + 1}: {e}"
                                             + (f" ({skipped} steps in a row)" if skipped > 1
                                                else "")), EXIT_DIVERGED) from None
                    tqdm.write(f"step {state['step'] + 1}: {e}: update skipped")
                state["step"] += 1
                state["step_run"] += 1
                elapsed = time.monotonic() - start
                bar.update(1 if steps else int(elapsed) - bar.n)
                if last is not None and (state["step"] % 10 == 0 or steps):
                    bar.set_postfix({k: f"{v:.3f}" for k, v in task.report(last).items()} |
                                    {"steps/s": f"{state['step_run'] / max(elapsed, 1e-9):.1f}"},
                                    refresh=False)
                if (plan["save_every"] and state["step"] % plan["save_every"] == 0
                        or time.monotonic() - last_save >= plan["save_seconds"]):
                    save()
        finally:
            bar.close()
        if not signals.received or state["step"] > first_step:
            save()
        if signals.received:
            name = signal.Signals(signals.received).name
            if state["step"] > first_step:
                path = state["saved"][0]
                resume = f"tinygrad-seq train --resume {path}" + (f" --steps {steps}" if steps
                                                                   else "")
                _tell(f"\n{name} at step {state['step']}: checkpoint saved to {path}; continue "
                      f"with: {resume}")
            else:
                _tell(f"\n{name} before the first step: nothing new to save")
    return last


def _diverged(state, why):
    path = state["saved"] and state["saved"][0]
    return (f"training stopped: {why}; {_kept(state)}"
            + (f"; to go on with a smaller learning rate: tinygrad-seq train --resume {path} "
               f"--lr LR --override lr" if path else ""))


def _kept(state):
    path, step = state["saved"] or (None, None)
    return f"the last checkpoint, {path} at step {step}, is kept" if path else \
        "no checkpoint was written"


def save_checkpoint(out_dir, model, opt, config, state):
    path = os.path.join(out_dir, "checkpoint.npz")
    try:
        # the package generator draws the dropout masks: its state too, for an exact resume
        nn.utils.save(path, model, opt, config=config, step=state["step"],
                      rng=state["rng"].bit_generator.state,
                      generator=package_rng().bit_generator.state)
    except OSError as e:
        raise Stop(f"could not write the checkpoint {path} ({e.strerror or e}); "
                   f"{_kept(state)}", EXIT_SAVE_FAILED) from None
    state["saved"] = (path, state["step"])
    return path


def load_checkpoint(path, text_path=None, with_text=True, requested=None, overrides=()):
    """Task, model, optimizer, config and state from a checkpoint, everything checked before
    anything is built.

    For a resume, `requested` holds the settings given on the command line (None: not given):
    one that differs from the checkpoint's is refused unless `overrides` names it (then it
    applies), and a charlm text must be the one trained on (the same SHA-256) unless
    `overrides` names "text". A charlm model reads its text (text_path, else the file it was
    trained on) unless with_text=False (sampling needs only the vocabulary); a text with
    characters outside the vocabulary is refused."""
    path = str(path)
    if not os.path.isfile(path):
        raise UsageError(f"no checkpoint at {path}")
    try:
        extra = nn.utils.read_extras(path)
    except ValueError as e:
        raise UsageError(str(e).removeprefix("load: ")) from None
    # (checkpoints written before dropout have no generator, and no dropout in their config)
    if set(extra) not in ({"config", "step", "rng", "generator"}, {"config", "step", "rng"}):
        raise UsageError(f"{path} is not a usable tinygrad-seq checkpoint: its extras are "
                         f"{sorted(extra)}, expected config, generator, rng and step")
    config = extra["config"]
    if isinstance(config, dict) and "generator" not in extra:
        config.setdefault("dropout", 0.0)
    check_checkpoint_config(config, path)
    if extra["step"] not in Range(int, 0):
        raise UsageError(f"{path} is not a usable tinygrad-seq checkpoint: its step is "
                         f"{extra['step']!r}, expected an integer >= 0")
    rng, generator = np.random.default_rng(), np.random.default_rng()
    states = [("data generator", rng, "rng"), ("package generator", generator, "generator")]
    for what, into, key in states[:2 if "generator" in extra else 1]:
        try:
            into.bit_generator.state = extra[key]
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise UsageError(f"{path} is not a usable tinygrad-seq checkpoint: its {what}'s "
                             f"state is not numpy's PCG64 state ({e})") from None
    if text_path is not None and config["task"] != "charlm":
        raise UsageError(f"--text is for --task charlm; {path} holds a {config['task']} model")
    if requested is not None:
        _apply_requested(config, requested, overrides, path)
    text = None
    source = text_path if text_path is not None else config.get("text")
    if config["task"] == "charlm" and with_text:
        text = load_text(source, "" if text_path is not None else
                         "; the checkpoint was trained on this text: give it with --text")
        record = text_settings(source, text)
        if "text_sha256" not in config:
            if requested is not None:
                say(f"tinygrad-seq: note: {path} does not record which text it was trained on "
                    f"(it was written by an older tinygrad-seq); training goes on with "
                    f"{_text_name(source)}")
            config.update(record)
        elif requested is not None and record["text_sha256"] != config["text_sha256"]:
            if "text" not in overrides:
                raise UsageError(f"{_text_name(source)} is not the text {path} was trained on "
                                 f"({_text_name(config['text'])}, SHA-256 "
                                 f"{config['text_sha256'][:12]}...); to train on with it, add "
                                 f"--override text")
            config.update(record)
    task, model, opt = build(config, text, source, training=requested is not None)
    try:
        nn.utils.load(path, model, opt)
    except ValueError as e:
        raise UsageError(f"{path}: {e}") from None
    if "generator" in extra:    # where dropout's masks went on from (build seeded it afresh)
        package_rng().bit_generator.state = generator.bit_generator.state
    if "lr" in overrides:
        for group in opt.param_groups:
            group["lr"] = config["lr"]
    return task, model, opt, config, {"step": extra["step"], "rng": rng, "step_run": 0,
                                      "saved": (path, extra["step"])}


def _apply_requested(config, requested, overrides, path):
    """Settings given with --resume: each the checkpoint's, or named in --override."""
    for key, value in requested.items():
        if value is None or value == config.get(key):
            continue
        there = (f"{flag(key)} {value} differs from the checkpoint {path} "
                 f"({config.get(key)!r} there)")
        if key in overrides:
            config[key] = value
        elif key in ADJUSTABLE:
            raise UsageError(f"{there}; to train on with {value}, add --override "
                             f"{flag(key)[2:]}")
        else:
            raise UsageError(f"{there}; a resumed run keeps its task, cell, model sizes and "
                             f"seed")
    for key in overrides:
        if key != "text" and requested.get(key) is None:
            raise UsageError(f"--override {flag(key)[2:]} needs {flag(key)} with the new value")
    check_config(config)


def load_text(path, hint=""):
    try:
        return data.load_corpus(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"{e}{hint}") from None
