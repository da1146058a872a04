"""The seed tutorial's example, with the shapes right: an LSTM classifies whole sequences.

What it teaches: nn.LSTM, nn.Linear, a loss and an optimizer put together as in PyTorch; the
shape conventions of recurrent layers.

1,000 sequences of 50 steps with one feature each, an LSTM of hidden size 64 and a linear head
to 2 classes, Adam, 10 full-batch epochs, the loss printed per epoch.

About the shapes: the seed's PyTorch snippet builds `data = torch.rand(1000, 50)` and feeds it
to `nn.LSTM(input_size=1, batch_first=True)`. A 2-D tensor is an *unbatched* sequence to
PyTorch, (seq_len=1000, features=50), which does not match input_size=1, so the snippet fails.
The data must be (batch=1000, seq_len=50, features=1), as below.

About the labels: the seed draws them at random, so there is nothing to learn: the loss falls
to ln 2 = 0.693 (always answering 50/50) and no further. That is the right answer here, and a
useful baseline to recognise. `--labels learnable` keeps the seed's data but labels a sequence 1
when its mean exceeds 0.5 (data.sequence_classification): no single step decides, the LSTM has
to accumulate over all 50. Full-batch steps are few and slow to learn from; minibatches help:

    python examples/02_seed_lstm_classification.py --labels learnable --batch-size 64 --lr 0.003

reaches 80-95% held-out accuracy within 10 epochs (noisy from epoch to epoch).

    python examples/02_seed_lstm_classification.py [--epochs N] [--samples N]
        [--labels random|learnable] [--batch-size N] [--lr LR]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import nn, optim
from tinygrad_seq.data import sequence_classification


class RNNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=64, num_layers=1, batch_first=True)
        self.fc = nn.Linear(64, 2)

    def forward(self, x):            # x: (batch, seq_len, 1)
        out, _ = self.lstm(x)        # out: (batch, seq_len, 64)
        return self.fc(out[:, -1, :])  # the last step's output -> (batch, 2) logits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--labels", choices=["random", "learnable"], default="random")
    parser.add_argument("--batch-size", type=int, default=None, help="default: all samples")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()

    ts.manual_seed(42)
    rng = np.random.default_rng(42)
    if args.labels == "random":                                     # as in the seed
        data = rng.random((args.samples, 50, 1), dtype=np.float32)  # (batch, seq_len, features)
        labels = rng.integers(0, 2, size=args.samples)
        test_data = test_labels = None
    else:                   # time-major (50, samples, 1) from data.py, made batch_first here
        data, labels = sequence_classification(args.samples, 50, rng)
        test_data, test_labels = sequence_classification(1000, 50, rng)
        data, test_data = data.transpose(1, 0, 2), ts.Tensor(test_data.transpose(1, 0, 2))
        test_labels = ts.Tensor(test_labels)
    batch_size = args.batch_size or args.samples

    model = RNNModel()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(args.samples)
        correct = 0
        for start in range(0, args.samples, batch_size):
            batch = order[start:start + batch_size]
            x, y = ts.Tensor(data[batch]), ts.Tensor(labels[batch])
            optimizer.zero_grad()
            outputs = model(x)
            loss = criterion(outputs, y)
            loss.backward()
            optimizer.step()
            correct += int((outputs.argmax(dim=1) == y).sum())
        line = f"epoch {epoch:3d}  loss {loss.item():.4f}  accuracy {correct / args.samples:.3f}"
        if test_data is not None:
            with ts.no_grad():
                held_out = (model(test_data).argmax(dim=1) == test_labels).float().mean().item()
            line += f"  held-out accuracy {held_out:.3f}"
        print(line)


if __name__ == "__main__":
    main()
