"""PyTorch's "NLP From Scratch: Classifying Names with a Character-Level RNN": letters as
one-hot tensors, an RNN cell built from two nn.Linear on torch.cat((input, hidden), 1),
LogSoftmax and NLLLoss, one name at a time, and the tutorial's manual update
p.data.add_(p.grad.data, alpha=-learning_rate).

Only the imports differ from PyTorch's program. The names are made up here (no download):
each "language" draws its letters from its own part of the alphabet. The training pairs
come in a fixed order, and the losses are returned instead of printed.
"""
import string

import tinygrad_seq as torch
import tinygrad_seq.nn as nn

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)


def letterToIndex(letter):
    return all_letters.find(letter)


def letterToTensor(letter):
    tensor = torch.zeros(1, n_letters)
    tensor[0][letterToIndex(letter)] = 1
    return tensor


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def make_names(categories, per_category, seed=0):
    """(category, name) pairs: category k's names use letters k*6 .. k*6+9 of the alphabet."""
    import random
    rng = random.Random(seed)
    pairs = []
    for i in range(per_category):
        for k, category in enumerate(categories):
            letters = string.ascii_lowercase[k * 6:k * 6 + 10]
            name = "".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))
            pairs.append((category, name.capitalize()))
    return pairs


def categoryFromOutput(output, all_categories):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def train_names(rnn, pairs, all_categories, learning_rate=0.005):
    criterion = nn.NLLLoss()
    losses, correct = [], 0
    for category, line in pairs:
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        line_tensor = lineToTensor(line)
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        losses.append(loss.item())
        correct += categoryFromOutput(output, all_categories)[0] == category
    return losses, correct
