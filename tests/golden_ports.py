"""Typical PyTorch programs ported by changing only their imports (tests/ports/): each run
here from the same weights in both libraries, so their losses can be compared.

`python tests/golden_ports.py` (with PyTorch installed) writes tests/golden/ports.npz with
PyTorch's results; tests/test_ports.py checks ours against it, and against PyTorch live when
it is importable. The packed-sequence classifier and the LSTMCell + LBFGS example have their
own files (golden_packed.py, golden_port_time_sequence.py).
"""
import os

import numpy as np

from porting import load_port

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "golden", "ports.npz")


def _port(name, lib_name):
    return load_port(os.path.join(HERE, "ports", f"{name}.py"), lib_name)


def _set_weights(model, lib, seed):
    """Every parameter (tied ones once) from U(-0.3, 0.3), the same in both libraries."""
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for _, p in model.named_parameters():
            p.copy_(lib.tensor(rng.uniform(-0.3, 0.3, tuple(p.shape))))


class _Float64:
    """Both libraries' default dtype set to float64 for a run, as a test of numbers would."""

    def __init__(self, lib):
        self.lib = lib

    def __enter__(self):
        self.previous = self.lib.get_default_dtype()
        self.lib.set_default_dtype(self.lib.float64)

    def __exit__(self, *exc):
        self.lib.set_default_dtype(self.previous)


def polynomial(lib_name):
    port = _port("polynomial_fit", lib_name)
    start = [0.3, -0.2, 0.1, 0.05]
    losses, coefficients = port.fit_tensors(start, steps=1000)      # float32, as written
    with _Float64(port.torch):
        nn_losses, nn_coefficients = port.fit_module([[0.2, -0.1, 0.05]], [0.1], steps=1000)
    return {"losses": np.array(losses), "coefficients": np.array(coefficients),
            "nn_losses": np.array(nn_losses), "nn_coefficients": np.array(nn_coefficients)}


def names(lib_name):
    port = _port("char_rnn_classifier", lib_name)
    categories = ["Xish", "Yese", "Zian"]
    with _Float64(port.torch):
        rnn = port.RNN(port.n_letters, 32, len(categories))
        _set_weights(rnn, port.torch, 1)
        losses, correct = port.train_names(rnn, port.make_names(categories, 40), categories)
    return {"losses": np.array(losses), "correct": np.array(correct)}


def tagger(lib_name):
    port = _port("lstm_tagger", lib_name)
    with _Float64(port.torch):
        model = port.LSTMTagger(port.EMBEDDING_DIM, port.HIDDEN_DIM, len(port.word_to_ix),
                                len(port.tag_to_ix))
        _set_weights(model, port.torch, 2)
        losses, scores, tags = port.train(model)
    return {"losses": np.array(losses), "scores": scores, "tags": np.array(tags)}


def word_lm(lib_name, dropout=0.0, model_type="LSTM"):
    """Dropout draws different masks in each library: the runs compared use none (the program
    still goes through the Dropout modules); a run with dropout is checked on its own."""
    port = _port("word_language_model", lib_name)
    with _Float64(port.torch):
        model, run = port.run(model_type=model_type, dropout=dropout)
        _set_weights(model, port.torch, 3)
        epochs, val_loss = run()
    return {"losses": np.array(epochs), "val_loss": np.array(val_loss),
            "tied": np.array(model.decoder.weight is model.encoder.weight)}


RUNS = {"polynomial": polynomial, "names": names, "tagger": tagger, "word_lm": word_lm,
        "word_lm_gru": lambda lib_name: word_lm(lib_name, model_type="GRU")}


def main():
    import torch
    torch.set_num_threads(1)
    stored = {}
    for name, run in RUNS.items():
        for key, value in run("torch").items():
            stored[f"{name}/{key}"] = value
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {len(RUNS)} ports to {FIXTURES} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
