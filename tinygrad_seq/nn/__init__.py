"""Neural-network building blocks, named as in torch.nn."""
from . import functional, init, utils
from .cells import GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList
from .layers import (BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, LayerNorm, Linear,
                     MSELoss, Sequential)
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN, RNNBase
