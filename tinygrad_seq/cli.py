"""The `tinygrad-seq` command line (also `python -m tinygrad_seq`).

    tinygrad-seq demo                      train a character-level LSTM for ~2 minutes, sample
                                           text, draw its unrolled graph and gradient flow
    tinygrad-seq train --task adding --cell gru --steps 3000
    tinygrad-seq train --task reverse --model seq2seq-attention --seq-len 16
    tinygrad-seq sample --checkpoint out/checkpoint.npz --prime "The " --length 300
    tinygrad-seq render --cell lstm --steps 5 --view cell --out lstm.svg
    tinygrad-seq gradflow --checkpoint out/checkpoint.npz --out out/
                                           print the gradient-flow report, draw the graph
                                           and heatmaps of gradient and gate saturation
    tinygrad-seq explore --task adding --cell lstm --hidden 8 --steps 5 --out explore.html
    tinygrad-seq explore --checkpoint out/checkpoint.npz --steps 10 --out explore.html
                                           a page to step through one batch's forward and
                                           backward pass, in sync with its Wengert list
    tinygrad-seq bench [overhead|kernels|rnn|render|all]

Every argument, the text, a checkpoint to resume and the output folder are checked before
training starts; what cannot work is refused with a message and exit status 2. A checkpoint
holds the exact state between two steps; it is written every --save-every steps and every
--save-every-minutes (default 5), at the end, and when SIGINT (Ctrl-C), SIGTERM or SIGHUP stops
training (exit status 130, 143, 129). `--resume` continues bit for bit. A loss or gradient that
is not finite stops training (exit status 3) and keeps the last checkpoint.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import data, nn
from tinygrad_seq.training import (
    ADJUSTABLE, CELLS, EXIT_USAGE, MAX_SKIPPED, MINUTES, MODELS, RANGES, SEED_RANGE,
    SEQ2SEQ_TASKS, TASKS, Interrupted, Seq2SeqBatch,
    Range, Stop, StopSignals, UsageError, build, check_config, evaluate, evaluating, flag,
    format_bytes, load_checkpoint, load_text, memory_estimate, say, text_settings, train)

# settings of the demo: those of the PyTorch reference run quoted in the README, and dropout
# 0.2 (without it the two minutes' 5,000 steps overfit the text: see the README)
DEMO = dict(task="charlm", cell="lstm", hidden=256, layers=1, seq_len=64, batch=32, lr=3e-3,
            clip=1.0, embedding=64, dropout=0.2)


# ---------------------------------------------------------------------------------------------
# sampling and pictures
# ---------------------------------------------------------------------------------------------
@ts.no_grad()
def sample_text(model, vocab, prime, length, temperature, rng):
    """Feed `prime`, then draw `length` characters one at a time from softmax(logits / T)
    (the model in eval mode: no dropout)."""
    if temperature <= 0:
        raise UsageError(f"--temperature must be positive, got {temperature}")
    ids = vocab.encode(prime or " ")
    chars = []
    with evaluating(model):
        out, hx = model(ts.Tensor(ids[:, None]))
        logits = out.array[-1, 0]
        for _ in range(length):
            z = logits.astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            chars.append(nxt)
            out, hx = model(ts.Tensor(np.array([[nxt]])), hx)
            logits = out.array[-1, 0]
    return prime + vocab.decode(np.array(chars))


def gradient_pictures(task, model, config, out_dir, steps=None):
    """The gradient flow of one batch: the unrolled graph coloured by gradient (cell view,
    gradflow.svg), ||dL/dh_t|| per step (gradnorms.png), heatmaps of the gradient and of gate
    saturation over time (heatmap.png) and the gradient-flow report. `steps` shortens the
    sequence. Returns the three paths and the report. The model runs in eval mode: the
    pictures show its gradients without dropout's random zeros."""
    from tinygrad_seq import viz

    os.makedirs(out_dir, exist_ok=True)
    picture_config = dict(config, seq_len=steps or config["seq_len"], batch=min(config["batch"], 8))
    x, y = task.batch(np.random.default_rng(config["seed"] + 20_000), picture_config)
    with evaluating(model):
        model.zero_grad()
        out, _ = model(x)
        loss = task.loss(out, y)
        loss.backward(retain_graph=True)  # keeps the gate values, for the saturation heatmap
    name = f"{config['cell'].upper()} on {config['task']}"
    title = f"{name}: gradient flow over {picture_config['seq_len']} steps"
    pictures = {"gradflow.svg": viz.draw(loss, view="cell", title=title),
                "gradnorms.png": viz.compare({name: loss}, relative=False, title=title),
                "heatmap.png": viz.heatmap(loss, title=title)}
    paths = tuple(viz.save(p, os.path.join(out_dir, file)) for file, p in pictures.items())
    model.zero_grad()                     # (after drawing: the parameters show their gradient)
    return paths + (viz.report(loss, show=False),)


def seq2seq_pictures(task, model, config, out_dir, length):
    """A recurrent encoder-decoder's pictures for sequences of `length`: its gradient paths
    (gradient_paths.png: the gradient of each decoder step's loss reaching each encoder step,
    through attention and through the recurrent chain) and, with attention, the weights of a
    greedily decoded example (attention.png). Returns the paths and the report: the
    gradient-flow report of the encoder and decoder, and the gradient-path section."""
    from tinygrad_seq import viz

    if config["model"] == "transformer":
        raise UsageError("gradflow draws the recurrent chain of --model seq2seq and "
                         "seq2seq-attention; a transformer checkpoint has none")
    os.makedirs(out_dir, exist_ok=True)
    src, tgt = task.make(8, length, np.random.default_rng(config["seed"] + 20_000))
    batch, target = Seq2SeqBatch(src, tgt), ts.Tensor(tgt)
    model.zero_grad()
    out, _ = model(batch)
    loss = task.loss(out, target)
    loss.backward(retain_graph=True)      # keeps the gate values, for the saturation numbers
    flow = viz.report(loss, show=False)
    model.zero_grad()
    name = f"{config['cell'].upper()} {config['model']} on {config['task']}"
    paths = viz.gradient_paths(model.net, batch.src, batch.tgt_in, target, batch.mask, name=name)
    pictures = {"gradient_paths.png": viz.gradient_path_figure(
        [paths], title=f"{name}: where the gradient of each output goes ({task.unit} {length})")}
    if model.net.attention is not None:
        first = int((src[:, 0] == data.PAD).sum())          # the example's padding, dropped
        one = Seq2SeqBatch(src[first:, :1], tgt[:, :1])
        with ts.no_grad():
            tokens, weights = model.net.greedy(one.src, tgt.shape[0], data.BOS)
        pictures["attention.png"] = viz.attention_heatmap(
            weights.numpy()[:, 0], task.labels(src[first:, 0]), task.labels(tokens.numpy()[:, 0]),
            expected=task.labels(tgt[:, 0]), title=f"{name}: attention weights of a held-out "
                                                   f"example (wrong outputs in red)")
    saved = tuple(viz.save(p, os.path.join(out_dir, file)) for file, p in pictures.items())
    return saved, f"{flow}\n\n{paths}"


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
PICTURE_STEPS = 400     # gradflow's longest picture (its cell view stays under viz's 1,000 nodes)
STEPS, SAMPLE_LENGTH = Range(int, 1), Range(int, 1, 10**6)


def _parse(accepted):
    """For argparse: a number's parser that names what `accepted` (a Range) accepts."""
    def parse(text):
        try:
            value = accepted.kind(text)
        except ValueError:
            value = None
        if value is None or value not in accepted:
            raise argparse.ArgumentTypeError(f"expected {accepted}, got {text!r}")
        return value
    return parse


def _utf8(text):
    """For argparse: an argument that came as UTF-8 (Python keeps other bytes as surrogates,
    which no output can print)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise argparse.ArgumentTypeError(
            f"expected UTF-8 text; byte 0x{ord(text[e.start]) - 0xDC00:02x} at character "
            f"{e.start} is not (convert it, e.g. with `iconv -f latin1 -t utf-8`)") from None
    return text


def _add_run_args(p, demo=False):
    p.add_argument("--seed", type=_parse(SEED_RANGE), default=None, help="default 0")
    p.add_argument("--out", type=_utf8, default="tinygrad_seq_demo" if demo else "out",
                   help="folder for the checkpoint and pictures (created if missing)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_parse(STEPS), help="train until this many steps in total"
                        + ("" if demo else " (default: 1000 more)"))
    budget.add_argument("--minutes", type=_parse(MINUTES),
                        help="train for this long" + (" (default 2)" if demo else ""))
    p.add_argument("--save-every", type=_parse(STEPS), metavar="N",
                   help="also save a checkpoint every N steps")
    p.add_argument("--save-every-minutes", type=_parse(MINUTES), default=5.0, metavar="X",
                   help="save a checkpoint once X minutes have passed since the last one, at "
                        "the end of that step (default 5)")
    p.add_argument("--on-nan", choices=("stop", "skip"), default="stop",
                   help="a step whose loss or gradient is inf or nan: stop training, keeping "
                        f"the last checkpoint (default), or skip its update (at most "
                        f"{MAX_SKIPPED} in a row)")


def build_parser():
    parser = argparse.ArgumentParser(prog="tinygrad-seq", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job: train, sample, draw (about 2 minutes)")
    _add_run_args(demo, demo=True)
    tr = sub.add_parser("train", help="train a recurrent network on a task")
    tr.add_argument("--task", choices=TASKS, default=None, help="default: charlm")
    tr.add_argument("--cell", choices=CELLS, default=None,
                    help="default: lstm (gru for the encoder-decoders of reverse and dates)")
    tr.add_argument("--model", choices=MODELS, default=None,
                    help="for reverse and dates: an encoder-decoder without or with attention, "
                         "or a Transformer (default: seq2seq-attention)")
    tr.add_argument("--text", type=_utf8,
                    help="UTF-8 text file for charlm (default: Python's own docs)")
    for key, help_text in (("hidden", "hidden size (default 256; 64 for tasks)"),
                           ("layers", "recurrent layers (default 1)"),
                           ("seq_len", "time steps per sequence"),
                           ("batch", "sequences per batch (default 32)"),
                           ("lr", "Adam's learning rate (default 3e-3)"),
                           ("clip", "gradient-norm clipping (default 1.0)"),
                           ("tbptt", "truncated BPTT window (charlm and copy; 0: off)"),
                           ("dropout", "dropout probability on the embedding and the "
                                       "recurrent layers' outputs (default 0.2 for charlm, "
                                       "else 0)")):
        tr.add_argument(flag(key), type=_parse(RANGES[key]), default=None, help=help_text)
    tr.add_argument("--resume", type=_utf8, metavar="CHECKPOINT",
                    help="continue from a checkpoint, exactly as if never stopped")
    tr.add_argument("--override", action="append", default=[], metavar="SETTING[,SETTING]",
                    help="with --resume: apply these settings given on the command line ("
                         + ", ".join(flag(k)[2:] for k in ADJUSTABLE) + ", text) instead of "
                         "refusing them")
    _add_run_args(tr)
    sa = sub.add_parser("sample", help="generate text from a charlm checkpoint")
    sa.add_argument("--checkpoint", type=_utf8, required=True)
    sa.add_argument("--prime", type=_utf8, default="The ")
    sa.add_argument("--length", type=_parse(SAMPLE_LENGTH), default=300)
    sa.add_argument("--temperature", type=_parse(Range(float, 0)), default=0.8)
    sa.add_argument("--seed", type=_parse(SEED_RANGE), default=0)
    # `render` is handed to tinygrad_seq.viz's own parser (see main); listed here for --help
    sub.add_parser("render", help="draw an unrolled RNN/LSTM/GRU (tinygrad-seq render --help)")
    gf = sub.add_parser("gradflow", help="gradient-flow report and pictures of a checkpoint's "
                                         "model")
    gf.add_argument("--checkpoint", type=_utf8, required=True)
    gf.add_argument("--steps", type=_parse(Range(int, 1, PICTURE_STEPS)),
                    help=f"sequence length to draw (default: the model's, at most "
                         f"{PICTURE_STEPS}; reverse and dates: at most their --seq-len)")
    gf.add_argument("--text", type=_utf8,
                    help="UTF-8 text for a charlm model (default: the one it was trained on)")
    gf.add_argument("--out", type=_utf8, default=".")
    ex = sub.add_parser("explore", help="a page to step through one batch's forward and "
                                        "backward pass (a checkpoint's model, or a new one)")
    ex.add_argument("--checkpoint", type=_utf8, help="the model to explore (default: a new, "
                                                     "untrained one of --task and --cell)")
    ex.add_argument("--task", choices=TASKS, default=None, help="default: charlm")
    ex.add_argument("--cell", choices=CELLS, default=None, help="default: lstm")
    for key, help_text in (("hidden", "hidden size (default 256; 64 for tasks)"),
                           ("layers", "recurrent layers (default 1)")):
        ex.add_argument(flag(key), type=_parse(RANGES[key]), default=None, help=help_text)
    ex.add_argument("--seed", type=_parse(SEED_RANGE), default=None, help="default 0")
    ex.add_argument("--text", type=_utf8,
                    help="UTF-8 text for charlm (default: Python's docs, or the checkpoint's)")
    ex.add_argument("--steps", type=_parse(Range(int, 1, EXPLORE_STEPS)), default=10,
                    help=f"sequence length (default 10, at most {EXPLORE_STEPS})")
    ex.add_argument("--batch", type=_parse(Range(int, 1, 64)), default=2,
                    help="sequences in the batch (default 2)")
    ex.add_argument("--view", choices=("op", "cell"), default=None,
                    help="default: op, or cell for more than 200 ops")
    ex.add_argument("--out", type=_utf8, default="explore.html", help="the page to write")
    ex.set_defaults(seq_len=None, tbptt=None, lr=None, clip=None,   # (train's, for its checks)
                    dropout=None, model=None)
    be = sub.add_parser("bench", help="run the benchmarks (from a source checkout)")
    be.add_argument("which", nargs="?", default="all",
                    choices=("overhead", "kernels", "rnn", "render", "all"))
    return parser


def _config_from_args(args):
    task = args.task or "charlm"
    if task in SEQ2SEQ_TASKS:
        defaults = dict(hidden=64, layers=1, seq_len={"reverse": 16, "dates": 3}[task],
                        batch=32, lr=3e-3, clip=1.0, embedding=32, dropout=0.0,
                        model=args.model or "seq2seq-attention")
    elif args.model is not None:
        raise UsageError(f"--model is for --task {' or '.join(SEQ2SEQ_TASKS)} (the recurrent "
                         f"tasks take --cell)")
    else:
        defaults = dict(DEMO) if task == "charlm" else dict(
            hidden=64, layers=1, seq_len={"adding": 100, "copy": 100, "classify": 50}[task],
            batch=64, lr=1e-3, clip=1.0, embedding=16, dropout=0.0)
    config = dict(defaults, task=task,
                  cell=args.cell or ("gru" if task in SEQ2SEQ_TASKS else "lstm"),
                  seed=0 if args.seed is None else args.seed, tbptt=args.tbptt or 0)
    for key in ("hidden", "layers", "seq_len", "batch", "lr", "clip", "dropout"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if args.text and task != "charlm":
        raise UsageError("--text is for --task charlm")
    check_config(config)
    return config


def _overrides(args):
    """The settings --override names (as config keys)."""
    names = {name.strip().replace("-", "_") for item in args.override for name in item.split(",")
             if name.strip()}
    unknown = sorted(names - set(ADJUSTABLE) - {"text"})
    if unknown:
        raise UsageError(f"--override {flag(unknown[0])[2:]}: expected some of "
                         + ", ".join(flag(k)[2:] for k in ADJUSTABLE) + ", text")
    if names and not args.resume:
        raise UsageError("--override is for --resume (a new run takes every setting as given)")
    if "text" in names and args.text is None:
        raise UsageError("--override text needs --text with the new text")
    return names


def _prepare_out(folder, config=None):
    """Create the output folder and make sure files can be written there (with room for a
    checkpoint of `config`'s model): before any training, so that none is lost at the end."""
    path = pathlib.Path(folder)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {folder} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, suffix=".npz",
                                         prefix=f"{nn.utils.TEMP_PREFIX}{os.getpid()}-"):
            pass
    except OSError as e:
        raise UsageError(f"--out {folder}: cannot write there ({e.strerror or e})") from None
    if config is not None:
        parameters, _ = memory_estimate(config)
        # weights and Adam's two moments in float32, and the configuration
        need, free = 3 * 4 * parameters + 2**20, shutil.disk_usage(path).free
        if free < need:
            raise UsageError(f"--out {folder}: a checkpoint needs about {format_bytes(need)}, the "
                             f"disk has {format_bytes(free)} free")


def _check_file_out(out):
    """An output file's folder must exist and be writable (a picture is drawn first)."""
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out):
        raise UsageError(f"--out {out} is a folder; give a file name such as {out}/graph.svg")
    if not os.path.isdir(folder):
        raise UsageError(f"--out {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {out}: the folder {folder} is not writable")


def _run_training(task, model, opt, config, state, args, steps, minutes, signals):
    plan = dict(steps=steps, seconds=None if steps else minutes * 60, on_nan=args.on_nan,
                save_every=args.save_every, save_seconds=args.save_every_minutes * 60)
    what = config["cell"].upper() if "model" not in config else (
        "Transformer" if config["model"] == "transformer" else
        f"{config['cell'].upper()} {config['model']}")
    print(f"training {what} (hidden {config['hidden']}, {config['layers']} "
          f"layer(s)) on {config['task']}, batch {config['batch']} x {config['seq_len']} steps, "
          f"{'%d steps' % steps if steps else '%.1f minutes' % minutes}", flush=True)
    last = train(task, model, opt, config, state, args.out, plan, signals)
    print(f"step {state['step']}: training {task.metric}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in task.report(last).items()) if last is not None else
        "no training step ran", flush=True)
    held = evaluate(task, model, config)
    print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in held.items()), flush=True)
    print(f"checkpoint: {state['saved'][0]}", flush=True)
    return held


def cmd_train(args, signals):
    overrides = _overrides(args)
    if args.resume:
        requested = {k: getattr(args, k) for k in ("task", "cell", "model", "hidden", "layers",
                                                    "seq_len", "batch", "lr", "clip", "tbptt",
                                                    "dropout", "seed")}
        task, model, opt, config, state = load_checkpoint(args.resume, args.text,
                                                          requested=requested,
                                                          overrides=overrides)
        if args.steps is not None and args.steps <= state["step"]:
            raise UsageError(f"the checkpoint is at step {state['step']}; --steps {args.steps} "
                             f"asks for no more training")
    else:
        config = _config_from_args(args)
        text = None
        if config["task"] == "charlm":
            text = load_text(args.text)
            config.update(text_settings(args.text, text))
        task, model, opt = build(config, text, args.text)
        state = {"step": 0, "rng": np.random.default_rng(config["seed"]), "step_run": 0,
                 "saved": None}
    steps = args.steps if args.steps or args.minutes else state["step"] + 1000
    _prepare_out(args.out, config)
    _run_training(task, model, opt, config, state, args, steps, args.minutes, signals)
    return 0


def demo_model(seed=0):
    """The demo's configuration, text, task, model and optimizer, untrained (viz/make_gallery.py
    draws the gallery's demo pictures from the same)."""
    config = dict(DEMO, seed=seed, tbptt=0)
    text = load_text(None)
    config.update(text_settings(None, text))
    return (config, text) + build(config, text)


def cmd_demo(args, signals):
    config, text, task, model, opt = demo_model(0 if args.seed is None else args.seed)
    state = {"step": 0, "rng": np.random.default_rng(config["seed"]), "step_run": 0,
             "saved": None}
    minutes = args.minutes if args.minutes or args.steps else 2.0
    _prepare_out(args.out, config)
    print(f"tinygrad-seq demo: a character-level LSTM on Python's own documentation "
          f"({len(text):,} characters, {len(task.vocab)} symbols)", flush=True)
    held = _run_training(task, model, opt, config, state, args, args.steps, minutes, signals)
    sample = sample_text(model, task.vocab, "The ", 300, 0.8, np.random.default_rng(config["seed"]))
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
    if config["task"] in SEQ2SEQ_TASKS:
        length = args.steps or config["seq_len"]
        if length > config["seq_len"]:
            raise UsageError(f"--steps {length}: the model was trained on {task.unit} up to "
                             f"{config['seq_len']} (its --seq-len); the gradient paths take a "
                             f"backward pass per decoder step")
        _prepare_out(args.out)
        paths, report = seq2seq_pictures(task, model, config, args.out, length)
        print(report)
        print("\n".join(f"wrote {path}" for path in paths))
        return 0
    steps = args.steps or min(config["seq_len"], PICTURE_STEPS)
    if config["task"] == "charlm" and len(task.train_ids) < steps + 1:
        raise UsageError(f"--steps {steps}: the text's training part has only "
                         f"{len(task.train_ids):,} characters")
    _prepare_out(args.out)
    *paths, flow = gradient_pictures(task, model, config, args.out, steps=steps)
    print(flow)
    print("\n".join(f"wrote {path}" for path in paths))
    return 0


EXPLORE_STEPS = 200     # the longest sequence explore records (its page: about 7 MB)


_NOT_EXPLORED = ("explore steps through the recurrent tasks (charlm, adding, copy, classify); "
                 "{} is an encoder-decoder's: `tinygrad-seq gradflow --checkpoint ...` draws "
                 "its gradient paths and attention")


def cmd_explore(args):
    """One batch of the task through the model, its layers run from primitives (the numbers
    of the fused layers it trains with), recorded, backward, and the explorer's page."""
    from tinygrad_seq import viz

    _check_file_out(args.out)
    if args.task in SEQ2SEQ_TASKS:
        raise UsageError(_NOT_EXPLORED.format(f"--task {args.task}"))
    if args.checkpoint:
        for name in ("task", "cell", "hidden", "layers", "seed"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name} comes from the checkpoint; leave it out with "
                                 f"--checkpoint")
        task, model, _, config, _ = load_checkpoint(args.checkpoint, text_path=args.text)
        if config["task"] in SEQ2SEQ_TASKS:
            raise UsageError(_NOT_EXPLORED.format(f"this checkpoint's task, {config['task']},"))
    else:
        config = _config_from_args(args)
        text = load_text(args.text) if config["task"] == "charlm" else None
        if text is not None:
            config.update(text_settings(args.text, text))
        task, model, _ = build(config, text, args.text, training=False)
    if config["task"] == "charlm" and len(task.train_ids) < args.steps + 1:
        raise UsageError(f"--steps {args.steps}: the text's training part has only "
                         f"{len(task.train_ids):,} characters")
    x, y = task.batch(np.random.default_rng(config["seed"] + 30_000),
                      dict(config, seq_len=args.steps, batch=args.batch))
    model.rnn.fused = False                       # every op of every step on the tape
    model.eval()                                  # (no dropout: the model's own numbers)
    name = f"{config['cell'].upper()} on {config['task']}"
    page = viz.explore(lambda: task.loss(model(x)[0], y), args.out, view=args.view,
                       title=f"{name}: {x.shape[0]} steps, batch {args.batch}" + (
                           f" ({args.checkpoint})" if args.checkpoint else " (untrained)"))
    print(f"wrote {page.path}: {page.ops:,} ops, the {page.view} view, "
          f"{len(page.html.encode()) / 1e6:.2f} MB; open it in any browser")
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
            "gradflow": cmd_gradflow, "explore": cmd_explore, "bench": cmd_bench}
TRAINING_COMMANDS = ("demo", "train")


def main(argv=None):
    """The command line (argv None: sys.argv), or a call from Python with a list of arguments;
    returns the exit status."""
    from_python = argv is not None
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if argv[:1] == ["render"]:
        from tinygrad_seq.viz.__main__ import build_parser as render_parser, main as render_main
        try:
            _check_file_out(render_parser("tinygrad-seq render").parse_args(argv[1:]).out)
        except UsageError as e:
            print(f"tinygrad-seq render: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        return render_main(argv[1:], prog="tinygrad-seq render")
    args = build_parser().parse_args(argv)
    signals = StopSignals()
    signals.install()
    try:
        command = COMMANDS[args.command]
        return command(args, signals) if args.command in TRAINING_COMMANDS else command(args)
    except UsageError as e:
        print(f"tinygrad-seq {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Stop as e:
        say(f"tinygrad-seq {args.command}: {e}")
        return e.status
    except Interrupted as e:
        say(f"tinygrad-seq {args.command}: stopped by {e}")
        return 128 + e.signum
    finally:
        signals.uninstall(restore=from_python)

