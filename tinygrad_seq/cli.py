"""The `tinygrad-seq` command line (also `python -m tinygrad_seq`).

    tinygrad-seq demo                      train a character-level LSTM for ~2 minutes, sample
                                           text, draw its unrolled graph and gradient flow
    tinygrad-seq train --task adding --cell gru --steps 3000
    tinygrad-seq sample --checkpoint out/checkpoint.npz --prime "The " --length 300
    tinygrad-seq render --cell lstm --steps 5 --view cell --out lstm.svg
    tinygrad-seq gradflow --checkpoint out/checkpoint.npz --out out/
                                           print the gradient-flow report, draw the graph
                                           and heatmaps of gradient and gate saturation
    tinygrad-seq bench [overhead|kernels|rnn|render|all]

Bad input (unknown task or cell, a missing, empty or non-UTF-8 text, nonsense sizes, a
checkpoint that does not fit) is refused with a message and exit status 2. Ctrl-C during
training saves a checkpoint and exits with status 130; `--resume` continues exactly where it
stopped.
"""
import argparse
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import data, nn, optim

TASKS = ("charlm", "adding", "copy", "classify")
CELLS = ("rnn", "lstm", "gru")
# settings of the demo: those of the PyTorch reference run quoted in the README
DEMO = dict(task="charlm", cell="lstm", hidden=256, layers=1, seq_len=64, batch=32, lr=3e-3,
            clip=1.0, embedding=64)


class UsageError(Exception):
    """Input the command refuses; reported with exit status 2."""


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
        self.rnn = layer(width, config["hidden"], num_layers=config["layers"])
        self.head = nn.Linear(config["hidden"], config["outputs"])

    def forward(self, x, hx=None):
        """x (T, B) symbols or (T, B, F) features -> (outputs, state); outputs (T, B, C) on
        every step, or (B, C) from the last one."""
        if self.config["symbols"]:
            x = self.embed(x)
        out, hx = self.rnn(x, hx)
        return self.head(out if self.config["every_step"] else out[-1]), hx


# ---------------------------------------------------------------------------------------------
# tasks: batches, loss, held-out evaluation
# ---------------------------------------------------------------------------------------------
class CharLM:
    """Next-character prediction on a text; held-out: its last 10%, read as 32 streams."""
    every_step, metric = True, "bits per character"

    def __init__(self, config, text=None):
        self.vocab = data.Vocab.from_list(config["vocab"]) if "vocab" in config else \
            data.Vocab.from_text(text)
        corpus = self.vocab.encode(text) if text is not None else None
        self.train_ids, self.held_out = data.split_corpus(corpus) if corpus is not None else (None, None)
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
        streams = 32
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


class _Generated:
    """Tasks drawn from a generator in data.py; held-out: 1,000 fresh sequences."""

    def __init__(self, config, text=None):
        config.update(self.shape)

    @staticmethod
    def report(loss):
        return {"loss": loss}

    def evaluate(self, model, config):
        x, y = self.make(1000, config["seq_len"], np.random.default_rng(config["seed"] + 10_000))
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

    @staticmethod
    def make(n, length, rng):
        return data.copy_memory(n, length, rng)

    loss = staticmethod(CharLM.loss)

    def scores(self, out, y):
        copied = (out.argmax(dim=-1).data == y.data)[-10:].mean()
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
                "accuracy": float((out.argmax(dim=1) == y).data.mean())}


TASK_CLASSES = {"charlm": CharLM, "adding": Adding, "copy": Copy, "classify": Classify}


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def build(config, text=None):
    """Task, model and optimizer for a configuration (the task fills in the model's sizes)."""
    task = TASK_CLASSES[config["task"]](config, text)
    config["every_step"] = task.every_step
    ts.manual_seed(config["seed"])
    model = SequenceModel(config)
    opt = optim.Adam(model.parameters(), lr=config["lr"])
    return task, model, opt


def train_step(task, model, opt, x, y, config):
    """One optimizer step (or, with tbptt=K, one per window of K steps); returns the loss."""
    if config["tbptt"]:
        def after_backward():
            nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
            opt.step()
            opt.zero_grad()

        losses, _ = nn.utils.truncated_bptt(
            model, x, config["tbptt"],
            lambda out, start: task.loss(out, y[start:start + out.shape[0]]),
            after_backward=after_backward)
        return float(np.mean(losses))
    opt.zero_grad()
    out, _ = model(x)
    loss = task.loss(out, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
    opt.step()
    return loss.item()


def train(task, model, opt, config, state, out_dir, steps=None, seconds=None):
    """Train until `steps` in total or for `seconds`, with a progress bar; Ctrl-C saves a
    checkpoint. `state` holds the step count and the data generator (restored on resume)."""
    from tqdm import tqdm

    rng = state["rng"]
    total = steps if steps is not None else None
    bar = tqdm(total=total if total else int(seconds), initial=state["step"] if total else 0,
               unit="step" if total else "s", dynamic_ncols=True, mininterval=0.5,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
    start, last = time.perf_counter(), None
    try:
        while (state["step"] < steps) if total else (time.perf_counter() - start < seconds):
            x, y = task.batch(rng, config)
            last = train_step(task, model, opt, x, y, config)
            state["step"] += 1
            elapsed = time.perf_counter() - start
            if total:
                bar.update(1)
            else:
                bar.update(int(elapsed) - bar.n)
            if state["step"] % 10 == 0 or total:
                shown = task.report(last)
                bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()} |
                                {"steps/s": f"{state['step_run'] / max(elapsed, 1e-9):.1f}"},
                                refresh=False)
            state["step_run"] += 1
    except KeyboardInterrupt:
        bar.close()
        path = save_checkpoint(out_dir, model, opt, config, state)
        print(f"\ninterrupted at step {state['step']}; checkpoint saved to {path}; continue "
              f"with: tinygrad-seq train --resume {path}", flush=True)
        raise
    bar.close()
    return last


def save_checkpoint(out_dir, model, opt, config, state):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "checkpoint.npz")
    nn.utils.save(path, model, opt, config=config, step=state["step"],
                  rng=state["rng"].bit_generator.state)
    return path


def load_checkpoint(path, requested=None, text_path=None, with_text=True):
    """Task, model, optimizer, config and state from a checkpoint. A requested setting that
    differs from the checkpoint's model is refused; a charlm task reads its text (the default
    corpus or text_path) unless with_text=False (sampling needs only the vocabulary)."""
    path = str(path)
    if not os.path.isfile(path):
        raise UsageError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            config = dict(json.loads(str(f["meta"]))["extra"]["config"])
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise UsageError(f"{path} is not a tinygrad-seq checkpoint ({type(e).__name__}: {e})")
    for key, value in (requested or {}).items():
        if value is not None and key in config and config[key] != value:
            raise UsageError(f"the checkpoint {path} does not match the requested model: "
                             f"{key} is {config[key]!r} there, {value!r} requested")
    text = _load_text(text_path) if config["task"] == "charlm" and with_text else None
    task, model, opt = build(config, text)
    try:
        extra = nn.utils.load(path, model, opt)
    except ValueError as e:
        raise UsageError(str(e)) from None
    rng = np.random.default_rng()
    rng.bit_generator.state = extra["rng"]
    return task, model, opt, config, {"step": extra["step"], "rng": rng, "step_run": 0}


# ---------------------------------------------------------------------------------------------
# sampling and pictures
# ---------------------------------------------------------------------------------------------
@ts.no_grad()
def sample_text(model, vocab, prime, length, temperature, rng):
    """Feed `prime`, then draw `length` characters one at a time from softmax(logits / T)."""
    if temperature <= 0:
        raise UsageError(f"--temperature must be positive, got {temperature}")
    ids = vocab.encode(prime or " ")
    out, hx = model(ts.Tensor(ids[:, None]))
    logits = out.data[-1, 0]
    chars = []
    for _ in range(length):
        z = logits.astype(np.float64) / temperature
        p = np.exp(z - z.max())
        nxt = int(rng.choice(len(p), p=p / p.sum()))
        chars.append(nxt)
        out, hx = model(ts.Tensor(np.array([[nxt]])), hx)
        logits = out.data[-1, 0]
    return prime + vocab.decode(np.array(chars))


def gradient_pictures(task, model, config, out_dir, steps=None):
    """The gradient flow of one batch: the unrolled graph coloured by gradient (cell view,
    gradflow.svg), ||dL/dh_t|| per step (gradnorms.png), heatmaps of the gradient and of gate
    saturation over time (heatmap.png) and the gradient-flow report. `steps` shortens the
    sequence. Returns the three paths and the report."""
    from tinygrad_seq import viz

    os.makedirs(out_dir, exist_ok=True)
    picture_config = dict(config, seq_len=steps or config["seq_len"], batch=min(config["batch"], 8))
    x, y = task.batch(np.random.default_rng(config["seed"] + 20_000), picture_config)
    model.zero_grad()
    out, _ = model(x)
    loss = task.loss(out, y)
    loss.backward(retain_graph=True)      # keeps the gate values, for the saturation heatmap
    name = f"{config['cell'].upper()} on {config['task']}"
    title = f"{name}: gradient flow over {picture_config['seq_len']} steps"
    pictures = {"gradflow.svg": viz.draw(loss, view="cell", title=title),
                "gradnorms.png": viz.compare({name: loss}, relative=False, title=title),
                "heatmap.png": viz.heatmap(loss, title=title)}
    paths = tuple(viz.save(p, os.path.join(out_dir, file)) for file, p in pictures.items())
    model.zero_grad()                     # (after drawing: the parameters show their gradient)
    return paths + (viz.report(loss, show=False),)


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _add_training_args(p, demo=False):
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="tinygrad_seq_demo" if demo else "out",
                   help="folder for the checkpoint and pictures")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_positive(int), help="train until this many steps")
    budget.add_argument("--minutes", type=_positive(float),
                        help="train for this long" + (" (default 2)" if demo else ""))


def build_parser():
    parser = argparse.ArgumentParser(prog="tinygrad-seq", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job: train, sample, draw (about 2 minutes)")
    _add_training_args(demo, demo=True)
    tr = sub.add_parser("train", help="train a recurrent network on a task")
    tr.add_argument("--task", choices=TASKS, default=None, help="default: charlm")
    tr.add_argument("--cell", choices=CELLS, default=None, help="default: lstm")
    tr.add_argument("--text", help="UTF-8 text file for charlm (default: Python's own docs)")
    for name, kind, help_text in (("hidden", int, "hidden size (default 256; 64 for tasks)"),
                                  ("layers", int, "recurrent layers (default 1)"),
                                  ("seq-len", int, "time steps per sequence"),
                                  ("batch", int, "sequences per batch (default 32)"),
                                  ("lr", float, "Adam's learning rate (default 3e-3)"),
                                  ("clip", float, "gradient-norm clipping (default 1.0)"),
                                  ("tbptt", int, "truncated BPTT window (charlm and copy)")):
        tr.add_argument(f"--{name}", type=_positive(kind), default=None, help=help_text)
    tr.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint")
    _add_training_args(tr)
    sa = sub.add_parser("sample", help="generate text from a charlm checkpoint")
    sa.add_argument("--checkpoint", required=True)
    sa.add_argument("--prime", default="The ")
    sa.add_argument("--length", type=_positive(int), default=300)
    sa.add_argument("--temperature", type=_positive(float), default=0.8)
    sa.add_argument("--seed", type=int, default=0)
    # `render` is handed to tinygrad_seq.viz's own parser (see main); listed here for --help
    sub.add_parser("render", help="draw an unrolled RNN/LSTM/GRU (tinygrad-seq render --help)")
    gf = sub.add_parser("gradflow", help="gradient-flow report and pictures of a checkpoint's "
                                         "model")
    gf.add_argument("--checkpoint", required=True)
    gf.add_argument("--steps", type=_positive(int), help="sequence length to draw")
    gf.add_argument("--text", help="UTF-8 text for a charlm model (default: Python's docs)")
    gf.add_argument("--out", default=".")
    be = sub.add_parser("bench", help="run the benchmarks (from a source checkout)")
    be.add_argument("which", nargs="?", default="all",
                    choices=("overhead", "kernels", "rnn", "render", "all"))
    return parser


def _config_from_args(args):
    task = args.task or "charlm"
    defaults = dict(DEMO) if task == "charlm" else dict(
        hidden=64, layers=1, seq_len={"adding": 100, "copy": 100, "classify": 50}[task],
        batch=64, lr=1e-3, clip=1.0, embedding=16)
    config = dict(defaults, task=task, cell=args.cell or "lstm", seed=args.seed,
                  tbptt=args.tbptt or 0)
    for key in ("hidden", "layers", "seq_len", "batch", "lr", "clip"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if config["tbptt"] and not TASK_CLASSES[task].every_step:
        raise UsageError(f"--tbptt needs a task with a loss at every step (charlm, copy), "
                         f"not {task}")
    if args.text and task != "charlm":
        raise UsageError("--text is for --task charlm")
    return config


def _load_text(path):
    try:
        return data.load_corpus(path)
    except (OSError, ValueError) as e:
        raise UsageError(str(e)) from None


def _run_training(task, model, opt, config, state, out_dir, steps, minutes):
    print(f"training {config['cell'].upper()} (hidden {config['hidden']}, {config['layers']} "
          f"layer(s)) on {config['task']}, batch {config['batch']} x {config['seq_len']} steps, "
          f"{'%d steps' % steps if steps else '%.1f minutes' % minutes}", flush=True)
    last = train(task, model, opt, config, state, out_dir, steps=steps,
                 seconds=None if steps else minutes * 60)
    path = save_checkpoint(out_dir, model, opt, config, state)
    print(f"step {state['step']}: training {task.metric}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in task.report(last).items()) if last is not None else
        "no training step ran", flush=True)
    held = task.evaluate(model, config)
    print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in held.items()), flush=True)
    print(f"checkpoint: {path}", flush=True)
    return held


def cmd_train(args):
    if args.resume:
        requested = {k: getattr(args, k) for k in ("task", "cell", "hidden", "layers",
                                                    "seq_len", "batch")}
        task, model, opt, config, state = load_checkpoint(args.resume, requested, args.text)
        steps = args.steps
        if steps is not None and steps <= state["step"]:
            raise UsageError(f"the checkpoint is at step {state['step']}; --steps {steps} asks "
                             f"for no more training")
    else:
        config = _config_from_args(args)
        text = _load_text(args.text) if config["task"] == "charlm" else None
        task, model, opt = build(config, text)
        state = {"step": 0, "rng": np.random.default_rng(config["seed"]), "step_run": 0}
        steps = args.steps
    if steps is None and args.minutes is None:
        steps = state["step"] + 1000
    _run_training(task, model, opt, config, state, args.out, steps, args.minutes)
    return 0


def cmd_demo(args):
    config = dict(DEMO, seed=args.seed, tbptt=0)
    text = _load_text(None)
    task, model, opt = build(config, text)
    state = {"step": 0, "rng": np.random.default_rng(args.seed), "step_run": 0}
    minutes = args.minutes if args.minutes or args.steps else 2.0
    print(f"tinygrad-seq demo: a character-level LSTM on Python's own documentation "
          f"({len(text):,} characters, {len(task.vocab)} symbols)", flush=True)
    held = _run_training(task, model, opt, config, state, args.out, args.steps, minutes)
    sample = sample_text(model, task.vocab, "The ", 300, 0.8, np.random.default_rng(args.seed))
    print("\nsample (temperature 0.8):\n" + sample + "\n", flush=True)
    graph, plot, heat, flow = gradient_pictures(task, model, config, args.out, steps=24)
    print(f"{flow}\n")
    print(f"held-out bits per character: {held['bpc']:.3f}")
    print(f"unrolled graph with gradient flow: {graph}")
    print(f"gradient norm per time step: {plot}")
    print(f"heatmaps of gradient and gate saturation over time: {heat}")
    return 0


def cmd_sample(args):
    task, model, _, config, _ = load_checkpoint(args.checkpoint, with_text=False)
    if config["task"] != "charlm":
        raise UsageError(f"{args.checkpoint} holds a {config['task']} model; sample needs charlm")
    print(sample_text(model, task.vocab, args.prime, args.length, args.temperature,
                      np.random.default_rng(args.seed)))
    return 0


def cmd_gradflow(args):
    task, model, _, config, _ = load_checkpoint(args.checkpoint, text_path=args.text)
    *paths, flow = gradient_pictures(task, model, config, args.out, steps=args.steps)
    print(flow)
    print("\n".join(f"wrote {path}" for path in paths))
    return 0


def cmd_bench(args):
    folder = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    if not folder.is_dir():
        raise UsageError("the benchmarks live in the source checkout (benchmarks/); run this "
                         "from a clone of the repository")
    names = ["overhead", "kernels", "rnn", "render"] if args.which == "all" else [args.which]
    for name in names:
        print(f"== benchmarks/{name}.py", flush=True)
        done = subprocess.run([sys.executable, str(folder / f"{name}.py")], cwd=folder)
        if done.returncode:
            return done.returncode
    return 0


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "sample": cmd_sample,
            "gradflow": cmd_gradflow, "bench": cmd_bench}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if argv[:1] == ["render"]:
        from tinygrad_seq.viz.__main__ import main as render_main
        return render_main(argv[1:], prog="tinygrad-seq render")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(f"tinygrad-seq {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
