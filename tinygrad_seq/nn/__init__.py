"""Neural-network building blocks, named as in torch.nn."""
from . import functional, init, utils
from .cells import GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .attention import AdditiveAttention, MultiheadAttention, MultiplicativeAttention
from .activation import (ELU, GELU, Flatten, Hardtanh, Identity, LeakyReLU, LogSigmoid,
                         LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh)
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList
from .layers import Dropout, Embedding, LayerNorm, Linear, Sequential
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
                   MSELoss, NLLLoss, SmoothL1Loss)
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN, RNNBase
from .seq2seq import LSTMSelfAttention, Seq2Seq, TransformerSeq2Seq
from .transformer import (PositionalEncoding, Transformer, TransformerDecoder,
                          TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer)
