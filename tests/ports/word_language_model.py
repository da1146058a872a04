"""pytorch/examples' word_language_model (model.py and main.py): an Embedding, a multi-layer
LSTM or GRU with dropout, a Linear decoder whose weight can be tied to the embedding's,
batchify / get_batch / repackage_hidden, truncated BPTT, clip_grad_norm_ and the example's
manual update p.data.add_(p.grad, alpha=-lr), evaluation under model.eval() and no_grad.

Only the imports differ from PyTorch's program. The corpus is a small made-up text in memory
(no download, no data.Corpus files), the sizes are smaller, and the losses are returned.
"""
import math

import tinygrad_seq as torch
import tinygrad_seq.nn as nn
import tinygrad_seq.nn.functional as F


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError('When using the tied flag, nhid must be equal to emsize')
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)


def corpus(words=1200, seed=0):
    """A made-up text: sentences from a tiny grammar, as a 1-d tensor of word ids."""
    import random
    rng = random.Random(seed)
    grammar = [["the", "a"], ["cat", "dog", "bird"], ["sees", "likes", "eats"],
               ["the", "a"], ["fish", "seed", "ball"], ["<eos>"]]
    tokens = []
    while len(tokens) < words:
        tokens += [rng.choice(choices) for choices in grammar]
    vocab = sorted(set(tokens))
    return torch.tensor([vocab.index(t) for t in tokens[:words]], dtype=torch.int64), len(vocab)


def batchify(data, bsz):
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.size(0) // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data.narrow(0, 0, nbatch * bsz)
    # Evenly divide the data across the bsz batches.
    data = data.view(bsz, -1).t().contiguous()
    return data


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def evaluate(model, data_source, eval_batch_size, bptt, criterion):
    model.eval()
    total_loss = 0.
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train(model, train_data, batch_size, bptt, lr, clip, criterion):
    model.train()
    hidden = model.init_hidden(batch_size)
    losses = []
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        data, targets = get_batch(train_data, i, bptt)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        # If we didn't, the model would try backpropagating all the way to start of the dataset.
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    return losses


def run(model_type="LSTM", emsize=16, nhid=16, nlayers=2, dropout=0.2, tied=True, epochs=2,
        batch_size=8, bptt=12, lr=5.0, clip=0.25):
    data, ntokens = corpus()
    train_data = batchify(data[:1000], batch_size)
    val_data = batchify(data[1000:], 4)
    model = RNNModel(model_type, ntokens, emsize, nhid, nlayers, dropout, tied)
    criterion = nn.NLLLoss()
    return model, lambda: ([train(model, train_data, batch_size, bptt, lr, clip, criterion)
                            for _ in range(epochs)],
                           evaluate(model, val_data, 4, bptt, criterion))
