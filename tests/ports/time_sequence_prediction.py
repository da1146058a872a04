"""pytorch/examples' time_sequence_prediction (generate_sine_wave.py and train.py): two
LSTMCells and a Linear learn sine waves, trained full-batch with LBFGS, then predict ahead.

Only the imports differ from PyTorch's program. For a test that runs in seconds it is sized
down (arguments of `generate_sine_wave` and `train`), the data stays in memory instead of going
through traindata.pt, the plots are left out, the losses the example prints are returned, and
`train` can start from given weights, so that both libraries start from the same ones. The
current upstream train.py also moves everything to a `--device`; on the CPU those lines change
nothing, and the classic version without them is what is ported here.
"""
import copy

import numpy as np
import tinygrad_seq as torch
import tinygrad_seq.nn as nn
import tinygrad_seq.optim as optim


def generate_sine_wave(T=20, L=1000, N=100):
    np.random.seed(2)
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype('float64')
    return data


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future = 0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):# if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


def train(data, steps=15, future=1000, initial_weights=None):
    """The example's main: returns (the training loss at every closure call, the test loss
    after every step, the last prediction, the initial state_dict)."""
    # set random seed to 0
    np.random.seed(0)
    torch.manual_seed(0)
    # load data and make training set
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    # build the model
    seq = Sequence()
    seq.double()
    if initial_weights is not None:
        seq.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in initial_weights.items()})
    weights = copy.deepcopy(seq.state_dict())
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    losses, test_losses = [], []
    #begin to train
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            test_losses.append(loss.item())
            y = pred.detach().numpy()
    return losses, test_losses, y, weights
