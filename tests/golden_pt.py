"""PyTorch's own .pt files, for the tests of ts.load that run without PyTorch.

`python tests/golden_pt.py` (with PyTorch installed) writes, with torch.save:

    golden/pt_word_lm.pt     a word-level language model's state_dict (float32), its decoder
                             tied to its encoder as in PyTorch's word_language_model example
    golden/pt_objects.pt     tensors of every dtype, views sharing one storage, a Parameter,
                             and plain values in nested containers
    golden/pt_legacy.pt      a small dict in the pre-1.6 format
                             (torch.save(..., _use_new_zipfile_serialization=False))
    golden/pt_expected.npz   what they hold, as numpy arrays, and the language model's
                             log-probabilities and final state on fixed tokens, computed by
                             PyTorch in float64 from the same weights

The model is the same code for both libraries: `word_lm(torch)` or `word_lm(tinygrad_seq)`.
"""
import os

import numpy as np

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
WORD_LM, OBJECTS, LEGACY, EXPECTED = (os.path.join(GOLDEN, name) for name in (
    "pt_word_lm.pt", "pt_objects.pt", "pt_legacy.pt", "pt_expected.npz"))
TOKENS = np.array([[1, 4], [7, 0], [11, 3], [2, 2], [5, 9]])      # (time 5, batch 2)


def word_lm(lib, ntoken=12, ninp=6, nlayers=2, dropout=0.2):
    """Embedding -> LSTM -> Linear with tied weights, written once for torch and for us."""
    nn, F = lib.nn, lib.nn.functional

    class WordLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, ninp, nlayers, dropout=dropout)
            self.decoder = nn.Linear(ninp, ntoken)
            self.decoder.weight = self.encoder.weight

        def forward(self, tokens, hidden=None):
            output, hidden = self.rnn(self.drop(self.encoder(tokens)), hidden)
            return F.log_softmax(self.decoder(self.drop(output)), dim=-1), hidden

    return WordLM()


def objects(torch):
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    column = torch.tensor([[1.5], [-2.0]])
    return {
        "dtypes": {
            "float32": torch.tensor([1.25, -3.5, 1e-8]),
            "float64": torch.tensor([[1.0 / 3, 2.0 ** -40]], dtype=torch.float64),
            "int64": torch.tensor([-(2 ** 40), 0, 7]),
            "int32": torch.tensor([-5, 2 ** 30], dtype=torch.int32),
            "int16": torch.tensor([-300, 12], dtype=torch.int16),
            "int8": torch.tensor([-128, 127], dtype=torch.int8),
            "uint8": torch.tensor([0, 255], dtype=torch.uint8),
            "bool": torch.tensor([[True, False], [False, True]]),
            "float16": torch.tensor([0.5, -1.25, 65504.0], dtype=torch.float16),
            "bfloat16": torch.tensor([1.5, -2.25, 3.0e38], dtype=torch.bfloat16),
            "uint16": torch.tensor([1, 65535], dtype=torch.uint16),
            "scalar": torch.tensor(2.5),
            "empty": torch.zeros(0, 3),
        },
        "views": {                        # one storage for all of these
            "base": base,
            "transposed": base.t(),
            "row": base[1],
            "every_other_column": base[:, 1::2],
            "corner": base[1:, 2:],
        },
        "expanded": column.expand(2, 3),  # stride 0
        "parameter": torch.nn.Parameter(torch.tensor([0.5, 0.25])),
        "frozen": torch.nn.Parameter(torch.tensor([1.0]), requires_grad=False),
        "plain": [1, 2.5, "text", None, True, (1, (2, "three")), b"\x00bytes", 2 ** 70,
                  torch.Size([2, 3]), torch.float64, torch.int64, {"nested": [[], {}]}],
    }


def arrays_of(obj, prefix=""):
    """{path: numpy array} for every tensor in obj (float16/bfloat16 as float32 values)."""
    import torch
    found = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            found.update(arrays_of(v, f"{prefix}{k}/"))
    elif isinstance(obj, torch.Tensor):
        t = obj.detach()
        t = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
        found[prefix.rstrip("/")] = t.numpy().copy()
    return found


def main():
    import torch
    torch.manual_seed(0)
    model = word_lm(torch).eval()
    torch.save(model.state_dict(), WORD_LM)
    torch.save(objects(torch), OBJECTS)
    flat = torch.arange(6.0)
    torch.save({"weight": flat.reshape(2, 3), "bias": flat[4:], "step": 3}, LEGACY,
               _use_new_zipfile_serialization=False)
    expected = {f"word_lm/{k}": v.numpy().copy() for k, v in model.state_dict().items()}
    log_probs, (h, c) = model.double()(torch.tensor(TOKENS))
    expected.update({f"objects/{k}": v for k, v in arrays_of(objects(torch)).items()})
    expected.update({"word_lm_out/log_probs": log_probs.detach().numpy(),
                     "word_lm_out/h": h.detach().numpy(), "word_lm_out/c": c.detach().numpy()})
    np.savez(EXPECTED, **expected)
    for path in (WORD_LM, OBJECTS, LEGACY, EXPECTED):
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
