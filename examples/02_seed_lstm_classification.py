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
useful baseline to recognise; examples with learnable tasks follow.

    python examples/02_seed_lstm_classification.py [--epochs N] [--samples N]
"""
import argparse

import numpy as np

import tinygrad_seq as ts
from tinygrad_seq import nn, optim


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
    args = parser.parse_args()

    ts.manual_seed(42)
    rng = np.random.default_rng(42)
    data = rng.random((args.samples, 50, 1), dtype=np.float32)     # (batch, seq_len, features)
    labels = rng.integers(0, 2, size=args.samples)                  # random, as in the seed
    data, labels = ts.Tensor(data), ts.Tensor(labels)

    model = RNNModel()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters())                              # lr=1e-3
    for epoch in range(1, args.epochs + 1):
        optimizer.zero_grad()
        outputs = model(data)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        accuracy = (outputs.argmax(dim=1) == labels).data.mean()
        print(f"epoch {epoch:3d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
