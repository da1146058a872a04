"""Attention from primitives: softmax(Q K^T / sqrt(d) + mask) V, one op a line.

What it teaches: attention is three steps. Score every key against every query (a matrix
product), turn each query's scores into weights that sum to 1 (a softmax over the keys; a
masked key gets the score -inf, so the weight 0), and return the weighted sum of the values
(another matrix product). Written with the tape's primitives it gives the same numbers as
nn.functional.scaled_dot_product_attention and nn.MultiheadAttention, and gradcheck agrees with
its backward.

Why it helps with long dependencies: an output of attention depends on every value directly,
through one weighted sum. In a recurrent network the gradient from the last step to the first
crosses every step between them, one Jacobian each; through attention it crosses one. The
example measures both: ||d out_last / d x_s|| for a tanh RNN and for self-attention over the
same sequence.

    python examples/11_attention_from_primitives.py [--length T]
"""
import argparse
import math

import numpy as np

import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq import nn


def attention(q, k, v, mask=None):
    """q (N, L, d), k (N, S, d), v (N, S, dv); mask (L, S) bool, True where a key takes part."""
    scores = q.matmul(k.transpose(-2, -1)) / math.sqrt(q.shape[-1])    # (N, L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))              # masked keys: weight 0
    weights = scores.softmax(dim=-1)                                   # each row sums to 1
    return weights.matmul(v), weights                                  # (N, L, dv)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--length", type=int, default=30)
    args = p.parse_args()
    ts.manual_seed(0)
    rng = np.random.default_rng(0)
    q, k, v = (ts.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True) for _ in range(3))

    causal = ts.tensor(np.tril(np.ones((5, 5), dtype=bool)))          # query i sees keys <= i
    out, weights = attention(q, k, v, causal)
    theirs = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    print(f"by hand = F.scaled_dot_product_attention (causal): "
          f"{np.abs(out.numpy() - theirs.numpy()).max():.1e} apart")
    print(f"each row of the weights sums to 1: {np.allclose(weights.numpy().sum(-1), 1)}; the "
          f"upper triangle is 0: {not np.triu(weights.numpy()[0], 1).any()}")
    print(f"gradcheck of the hand-written attention: "
          f"{ts.gradcheck(lambda q, k, v: attention(q, k, v, causal)[0], q, k, v)}")

    # nn.MultiheadAttention is the same, per head, after projecting q, k and v
    mha = nn.MultiheadAttention(4, num_heads=1, dtype="float64")
    x = ts.tensor(rng.standard_normal((5, 2, 4)))                     # (L, N, E)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    xb = x.transpose(0, 1)                                             # (N, L, E)
    heads, _ = attention(F.linear(xb, w_q, b_q), F.linear(xb, w_k, b_k), F.linear(xb, w_v, b_v))
    by_hand = mha.out_proj(heads).transpose(0, 1)
    print(f"by hand = nn.MultiheadAttention (1 head): "
          f"{np.abs(by_hand.numpy() - mha(x, x, x)[0].numpy()).max():.1e} apart")

    # the gradient path: from the last output back to each input step
    T, H = args.length, 16
    x = ts.tensor(rng.standard_normal((T, 1, H)) * 0.5, requires_grad=True)
    rnn = nn.RNN(H, H, dtype="float64")
    rnn_out, _ = rnn(x)
    rnn_out[-1].sum().backward()
    through_rnn = np.linalg.norm(x.grad.numpy()[:, 0], axis=1)
    x.grad = None
    xb = x.transpose(0, 1)
    attended, _ = attention(xb, xb, xb)
    attended[0, -1].sum().backward()
    through_attention = np.linalg.norm(x.grad.numpy()[:, 0], axis=1)
    print(f"\n||d out_{T - 1} / d x_s||, the gradient of the last output reaching input step s:")
    steps = sorted({0, T // 4, T // 2, 3 * T // 4, T - 1})
    print("  step s            " + "".join(f"{s:>10d}" for s in steps))
    for name, norms in (("tanh RNN", through_rnn), ("self-attention", through_attention)):
        print(f"  {name:<18}" + "".join(f"{norms[s]:10.1e}" for s in steps))
    print(f"the first step gets {through_rnn[0] / through_rnn[-1]:.1e} of the last step's "
          f"gradient through the RNN's {T - 1} steps,\n"
          f"{through_attention[0] / through_attention[-1]:.1e} through attention's one")


if __name__ == "__main__":
    main()
