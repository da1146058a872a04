"""The tape and the backward walk: accumulation, hooks, retain_graph, no_grad, scopes, memory."""
import gc
import tracemalloc

import numpy as np
import pytest

import tinygrad_seq as ts
from conftest import leaf


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert np.array_equal(x.grad.array, [3 + 2, 3 + 4])


def test_shared_leaf_grad_is_a_private_copy():
    # add's backward hands the same array to both inputs; in-place edits of one grad (as
    # gradient clipping does) must not reach the other
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.array *= 10
    assert np.array_equal(b.grad.array, [1, 1])


def test_non_scalar_backward_takes_a_gradient():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(gradient=ts.Tensor(np.array([1.0, 0.0, 2.0])))
    assert np.array_equal(x.grad.array, [2, 0, 12])


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.tanh() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.array.copy()
    y.backward()
    assert np.allclose(x.grad.array, 2 * first)


def test_retain_grad_and_hooks():
    x = leaf([1.0, -2.0])
    h = x * 2
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h * h).sum().backward()
    assert np.array_equal(h.grad.array, 2 * h.array)
    assert np.array_equal(seen[0], 2 * h.array)
    assert h.is_leaf is False and x.is_leaf is True


def test_hook_can_replace_the_gradient_and_be_removed():
    x = leaf([1.0, 2.0])
    handle = x.register_hook(lambda g: g * 0)
    (x * 5).sum().backward()
    assert np.array_equal(x.grad.array, [0, 0])
    handle.remove()
    (x * 5).sum().backward()
    assert np.array_equal(x.grad.array, [5, 5])
    y = x * 1
    y.register_hook(lambda g: g * 3)       # a hook on a non-leaf scales what flows on
    x.grad = None
    (y * 2).sum().backward()
    assert np.array_equal(x.grad.array, [6, 6])
    z = x * 1
    z.register_hook(lambda g: g * 3).remove()   # a node left with an empty set of hooks
    x.grad = None
    (z * 2).sum().backward()
    assert np.array_equal(x.grad.array, [2, 2])


@pytest.mark.parametrize("g_shape,shape", [
    ((4, 3), (3,)), ((2, 4, 3), (4, 3)), ((4, 3), ()), ((4, 1, 3), (1, 3)), ((4, 3), (4, 1)),
    ((4, 3), (4, 3)), ((2, 4, 3), (2, 1, 3))])
@pytest.mark.parametrize("layout", ["C", "transposed"])
def test_unbroadcast_sums_a_gradient_back_to_its_input_shape(g_shape, shape, layout, rng):
    """The one place broadcasting is undone: leading axes and size-1 axes summed away, for
    contiguous and strided gradients alike."""
    from tinygrad_seq.autograd import unbroadcast
    g = rng.standard_normal(g_shape)
    if layout == "transposed":
        g = np.ascontiguousarray(g.T).T     # the same values, F-ordered
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape)
                                       if n == 1 and g_shape[extra + i] != 1)
    expected = g.sum(axis=axes, keepdims=True).reshape(shape)
    np.testing.assert_allclose(unbroadcast(g, shape), expected, rtol=1e-13, atol=1e-13)


def test_hook_on_an_intermediate_survives_the_tensor_going_away():
    x = leaf([1.0, 2.0])
    seen = []
    h = x * 2
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    out = (h * h).sum()
    del h                                  # as when a loop rebinds h each step
    out.backward()
    assert len(seen) == 1


def test_no_grad_records_nothing_as_context_and_decorator():
    x = leaf([1.0])
    with ts.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad

    @ts.no_grad()
    def f(v):
        return v * 3

    assert f(x).grad_fn is None
    assert ts.is_grad_enabled()
    assert (x * 2).grad_fn is not None


def test_detach_and_requires_grad_():
    x = leaf([1.0, 2.0])
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    y.requires_grad_()
    (y * y).sum().backward()
    assert x.grad is None and np.array_equal(y.grad.array, [4, 8])


def test_nothing_is_recorded_without_requires_grad():
    a, b = ts.ones(2, 2), ts.ones(2, 2)
    with ts.Tape() as tape:
        c = (a * b).sum()
    assert len(tape) == 0 and c.grad_fn is None


def test_tape_lists_nodes_in_order_with_scopes():
    x = ts.Tensor(np.ones((2, 3)), requires_grad=True)
    x.name = "x"
    with ts.Tape() as tape:
        with ts.scope("lstm", layer=0):
            with ts.scope("cell", step=3):
                y = (x * 2).tanh()
        z = y.sum()
    assert [n.op for n in tape] == ["mul", "tanh", "sum"]
    assert tape[0].scope.path == "lstm.cell" and tape[0].scope.step == 3
    assert tape[0].scope.tags == {"layer": 0}
    assert tape[2].scope is None
    assert [n.index for n in tape] == sorted(n.index for n in tape)
    text = str(tape)
    assert text.splitlines()[0].startswith("v0 = mul(x, const) -> (2, 3) float64")
    assert "v1 = tanh(v0)" in text and "v2 = sum(v1) -> ()" in text
    assert "[lstm.cell@3 layer=0]" in text
    assert z.grad_fn is tape[2] and "op=sum" in repr(z)


def test_multi_output_nodes_on_the_tape():
    x = leaf(np.arange(8.0).reshape(2, 4))
    with ts.Tape() as tape:
        a, b = x.chunk(2, dim=1)
        y = (a * b).sum()
    assert "mul(v0[0], v0[1])" in str(tape)
    y.backward()
    assert np.array_equal(x.grad.array, np.concatenate([x.array[:, 2:], x.array[:, :2]], 1))


def test_names_label_tensors_on_the_tape():
    x = leaf([1.0])
    h = x.tanh()
    h.name = "h_t"
    assert h.name == "h_t" and h.grad_fn.names == {0: "h_t"}


def test_backward_through_100k_ops_is_iterative():
    x = leaf([0.5])
    y = x
    for _ in range(100_000):
        y = y * 1.00001 + 0.0
    y.sum().backward()
    assert np.isclose(x.grad.item(), 1.00001 ** 100_000)


def test_memory_stays_flat_over_10k_training_steps():
    rng = np.random.default_rng(0)
    w1 = ts.Tensor(rng.standard_normal((4, 8)) * 0.3, dtype=ts.float32, requires_grad=True)
    w2 = ts.Tensor(rng.standard_normal((8, 1)) * 0.3, dtype=ts.float32, requires_grad=True)
    x = ts.Tensor(rng.standard_normal((16, 4)), dtype=ts.float32)
    y = ts.Tensor(rng.standard_normal((16, 1)), dtype=ts.float32)

    def step():
        loss = (((x @ w1).tanh() @ w2 - y) ** 2).mean()
        loss.backward()
        for w in (w1, w2):
            w.array -= 0.01 * w.grad.array
            w.grad = None
        return loss.item()

    for _ in range(200):
        step()
    gc.collect()
    tracemalloc.start()
    for _ in range(1000):
        step()
    after_1k = tracemalloc.get_traced_memory()[0]
    for _ in range(9000):
        step()
    after_10k = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # a leak of even one small object per step (~50 bytes) would add ~450 kB over 9,000 steps
    assert after_10k - after_1k < 50_000, (after_1k, after_10k)


def test_graph_dies_with_its_tensors():
    import weakref
    x = leaf([1.0, 2.0])
    y = (x * 2).tanh().sum()
    node = weakref.ref(y.grad_fn)
    with ts.Tape() as tape:
        z = x * 3
    assert len(tape) == 1
    del y, z, tape
    gc.disable()
    try:
        assert node() is None      # freed by reference counting alone: no cycles
    finally:
        gc.enable()


def test_set_default_dtype():
    assert ts.zeros(2).dtype == ts.float32 and ts.tensor(1.5).dtype == ts.float32
    ts.set_default_dtype(ts.float64)
    try:
        assert ts.zeros(2).dtype == ts.float64 and ts.tensor([1.0]).dtype == ts.float64
        assert ts.randn(2, 2).dtype == ts.float64
    finally:
        ts.set_default_dtype("float32")
    with pytest.raises(TypeError, match="float32 or float64"):
        ts.set_default_dtype("int64")


def test_a_leaf_hook_sees_the_total_gradient_once_as_in_pytorch():
    """A weight used at every step of an unrolled loop: its hook runs once, on the sum of the
    steps' gradients, so a non-linear hook (clipping) acts on the total as PyTorch's does."""
    w = leaf([0.5, -1.0])
    calls = []

    def clip(g):
        calls.append(g.numpy().copy())
        return g.clip(-1.0, 1.0)
    w.register_hook(clip)
    h = ts.Tensor(np.array([1.0, 1.0]))
    for _ in range(3):
        h = h * w + 1
    h.sum().backward()
    # h3 = ((h0 w + 1) w + 1) w + 1 with h0 = 1: dh3/dw = h2 + w h1 + w^2 = 2.75 and 2.0
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [2.75, 2.0])
    # clipped once; clipping each step's share (1.75, 0.75, 0.25 for w[0]) would give 2.0
    np.testing.assert_allclose(w.grad.array, [1.0, 1.0])


def test_a_basic_index_gradient_is_filled_wherever_an_array_is_needed():
    """GetItem's backward passes a SliceGrad (zeros but for the index); leaves, sums of two
    uses, hooks, retained grads, anomaly mode and recordings all get the whole array."""
    x = leaf(np.arange(12.0).reshape(4, 3))
    (x[1] * 2).sum().backward()                      # straight into a leaf
    assert np.array_equal(x.grad.array, [[0, 0, 0], [2, 2, 2], [0, 0, 0], [0, 0, 0]])
    x.grad = None
    t = x * 1
    seen = []
    t.register_hook(lambda g: seen.append(type(g.array)))
    t.retain_grad()
    (t[1:3] ** 2).sum().backward()                   # a hooked, retained node
    assert seen == [np.ndarray] and type(t.grad.array) is np.ndarray
    expected = np.zeros((4, 3))
    expected[1:3] = 2 * x.array[1:3]
    assert np.array_equal(t.grad.array, expected) and np.array_equal(x.grad.array, expected)
    x.grad = None
    u = x.tanh()
    (u[0].sum() + u[:, 1].sum() + u[-1][::-2].sum()).backward()   # three slices of one node
    mask = np.zeros((4, 3))
    mask[0] += 1
    mask[:, 1] += 1
    mask[-1][::-2] += 1
    np.testing.assert_allclose(x.grad.array, mask * (1 - np.tanh(x.array) ** 2))
    with ts.autograd.detect_anomaly():
        x.grad = None
        x.tanh()[2].sum().backward()
    assert np.count_nonzero(x.grad.array) == 3


def test_the_norm_of_a_slice_gradient_is_the_norm_of_its_array():
    x = leaf(np.arange(12.0).reshape(4, 3))
    t = x * 1
    (t[1:3] * 3).sum().backward()
    assert t._node.grad_norms == (pytest.approx(np.sqrt(6 * 9)),)
