"""A padded and packed batch classifier, written as for PyTorch; only the imports changed.

Token sequences of different lengths are padded with pad_sequence, embedded, packed with
pack_padded_sequence(enforce_sorted=False) and run through an LSTM; its final hidden state
goes into a Linear layer, trained with cross-entropy and Adam. The task: which of three bands
of tokens a sequence holds most of. Run it with `python tests/ports/packed_classifier.py`;
tests/golden_packed.py runs the same source under PyTorch (the imports swapped back) from the
same weights and checks that the losses agree.
"""
import random

import tinygrad_seq as torch
import tinygrad_seq.nn as nn
from tinygrad_seq.nn.utils.rnn import pack_padded_sequence, pad_sequence

VOCAB, EMBED, HIDDEN, CLASSES = 13, 8, 16, 3
PAD = 0


def make_data(n, seed=0):
    """n (tokens, label) pairs: 2 to 9 tokens from 1..VOCAB-1; the label is the band of
    tokens (1-4, 5-8, 9-12) the sequence holds most of, the lowest band on ties."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        tokens = [rng.randint(1, VOCAB - 1) for _ in range(rng.randint(2, 9))]
        counts = [sum(1 for t in tokens if (t - 1) * CLASSES // (VOCAB - 1) == c)
                  for c in range(CLASSES)]
        data.append((tokens, counts.index(max(counts))))
    return data


def collate(batch):
    """A list of (tokens, label) as padded tokens (B, T), lengths (B,) and labels (B,)."""
    tokens = [torch.tensor(t, dtype=torch.long) for t, _ in batch]
    lengths = torch.tensor([len(t) for t, _ in batch])
    labels = torch.tensor([label for _, label in batch], dtype=torch.long)
    return pad_sequence(tokens, batch_first=True, padding_value=PAD), lengths, labels


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMBED, padding_idx=PAD)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, tokens, lengths):
        embedded = self.embedding(tokens)                    # (B, T, EMBED)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True,
                                      enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)                      # h_n in the batch's own order
        return self.fc(h_n[-1])                              # (B, CLASSES)


def train(model, data, epochs=3, batch_size=16, lr=0.01):
    """Adam on the cross-entropy, batch by batch; returns every step's loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        for i in range(0, len(data), batch_size):
            tokens, lengths, labels = collate(data[i:i + batch_size])
            optimizer.zero_grad()
            loss = criterion(model(tokens, lengths), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def accuracy(model, data):
    tokens, lengths, labels = collate(data)
    with torch.no_grad():
        predictions = model(tokens, lengths).argmax(dim=1)
    return (predictions == labels).float().mean().item()


def main():
    torch.manual_seed(0)
    data = make_data(96)
    model = Classifier()
    losses = train(model, data[:64], epochs=20)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, held-out accuracy "
          f"{accuracy(model, data[64:]):.2f}")


if __name__ == "__main__":
    main()
