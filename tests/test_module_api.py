"""Module features as in PyTorch: buffers, containers, state_dict with tied weights, the
missing/unexpected keys of load_state_dict, apply, to()/cpu(), requires_grad_(),
Embedding.from_pretrained. The live tests run the same code in PyTorch and compare."""
import copy
import importlib.util

import numpy as np
import pytest

import tinygrad_seq as ts
from tinygrad_seq import nn

HAS_TORCH = importlib.util.find_spec("torch") is not None
live = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")


def normalizer(lib):
    """A module with a buffer, a non-persistent buffer, a tied pair and containers."""
    nn_ = lib.nn

    class Net(nn_.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn_.Embedding(5, 3)
            self.register_buffer("mean", lib.zeros(3))
            self.register_buffer("steps", lib.tensor(0))
            self.register_buffer("scratch", lib.ones(2), persistent=False)
            self.blocks = nn_.ModuleList([nn_.Linear(3, 3), nn_.Linear(3, 3)])
            self.heads = nn_.ModuleDict({"tag": nn_.Linear(3, 2), "score": nn_.Linear(3, 1)})
            self.scales = nn_.ParameterList([nn_.Parameter(lib.ones(3))])
            self.shifts = nn_.ParameterDict({"a": nn_.Parameter(lib.zeros(3))})
            self.out = nn_.Linear(3, 5)
            self.out.weight = self.embed.weight            # tied

        def forward(self, tokens):
            x = self.embed(tokens) - self.mean
            for block in self.blocks:
                x = block(x).tanh() * self.scales[0] + self.shifts["a"]
            return self.out(x), self.heads["tag"](x)

    return Net()


def test_state_dict_names_order_and_tied_weights():
    net = normalizer(ts)
    names = list(net.state_dict())
    assert names == ["mean", "steps", "embed.weight", "blocks.0.weight", "blocks.0.bias",
                     "blocks.1.weight", "blocks.1.bias", "heads.tag.weight", "heads.tag.bias",
                     "heads.score.weight", "heads.score.bias", "scales.0", "shifts.a",
                     "out.weight", "out.bias"]
    params = [n for n, _ in net.named_parameters()]
    assert "out.weight" not in params and len(params) == len(list(net.parameters())) == 12
    assert [n for n, _ in net.named_parameters(remove_duplicate=False)].count("out.weight") == 1
    assert [n for n, _ in net.named_buffers()] == ["mean", "steps", "scratch"]
    assert all(b is net.mean or b is net.steps or b is net.scratch for b in net.buffers())
    state = net.state_dict()
    assert np.shares_memory(state["out.weight"].numpy(), net.embed.weight.numpy())
    assert not state["out.weight"].requires_grad
    assert net.state_dict(keep_vars=True)["out.weight"] is net.embed.weight
    assert list(net.state_dict(prefix="net."))[0] == "net.mean"
    best = copy.deepcopy(net.state_dict())        # the usual "keep the best weights" idiom
    best["mean"][:] = 7.0
    assert net.mean.numpy().sum() == 0


@live
def test_state_dict_names_match_pytorch():
    import torch
    assert list(normalizer(ts).state_dict()) == list(normalizer(torch).state_dict())
    assert [n for n, _ in normalizer(ts).named_parameters()] == [
        n for n, _ in normalizer(torch).named_parameters()]
    assert [n for n, _ in normalizer(ts).named_buffers()] == [
        n for n, _ in normalizer(torch).named_buffers()]
    assert [n for n, _ in normalizer(ts).named_modules()] == [
        n for n, _ in normalizer(torch).named_modules()]


def test_load_state_dict_fills_in_place_and_reports_keys():
    a, b = normalizer(ts), normalizer(ts)
    a.mean.copy_(ts.tensor([1.0, 2.0, 3.0]))
    weight = b.blocks[0].weight
    version = weight._version
    result = b.load_state_dict(a.state_dict())
    assert repr(result) == "<All keys matched successfully>" and result == ([], [])
    assert b.blocks[0].weight is weight and weight._version > version      # same memory
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=name)
    partial = {k: v for k, v in a.state_dict().items() if not k.startswith("heads.")}
    partial["extra.weight"] = ts.zeros(2)
    result = b.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["heads.tag.weight", "heads.tag.bias", "heads.score.weight",
                                   "heads.score.bias"]
    assert result.unexpected_keys == ["extra.weight"]
    assert "missing_keys=['heads.tag.weight'" in repr(result)
    with pytest.raises(ValueError, match="missing: heads.tag.weight.*\n.*unexpected: extra"):
        b.load_state_dict(partial)
    wrong = dict(a.state_dict(), mean=ts.zeros(4))
    with pytest.raises(ValueError, match=r"mean: shape \(4,\) in the state, \(3,\) in the model"):
        b.load_state_dict(wrong, strict=False)         # shapes are checked even then


@live
def test_a_tied_pytorch_state_dict_loads_and_ours_loads_in_pytorch():
    import torch
    theirs, ours = normalizer(torch), normalizer(ts)
    assert repr(ours.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    tokens = [[1, 2], [3, 4]]
    ours.double()
    theirs.double()
    for a, b in zip(ours(ts.tensor(tokens)), theirs(torch.tensor(tokens))):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    again = normalizer(torch).double()
    again.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    assert repr(theirs.load_state_dict(again.state_dict())) == "<All keys matched successfully>"


def test_buffers_are_state_not_parameters():
    net = normalizer(ts)
    assert all(b is not p for b in net.buffers() for p in net.parameters())
    net.mean = ts.ones(3)                         # assigning keeps it a buffer, as in PyTorch
    assert "mean" in dict(net.named_buffers()) and net.state_dict()["mean"].numpy().sum() == 3
    with pytest.raises(TypeError, match="cannot assign a list to the buffer 'mean'"):
        net.mean = [1, 2, 3]
    net.register_buffer("later", None)
    assert net.later is None and "later" not in net.state_dict()
    with pytest.raises(KeyError, match="attribute 'embed' already exists"):
        net.register_buffer("embed", ts.zeros(1))
    with pytest.raises(KeyError, match="contain no '.'"):
        net.register_buffer("a.b", ts.zeros(1))
    with pytest.raises(TypeError, match="must be a Tensor or None, got ndarray"):
        net.register_buffer("c", np.zeros(1))
    del net.mean
    assert "mean" not in net.state_dict() and not hasattr(net, "mean")


def test_to_casts_floating_parameters_buffers_and_grads():
    net = normalizer(ts)
    net(ts.tensor([[1, 2]]))[0].sum().backward()
    assert net.to(ts.float64) is net
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.mean.dtype == np.float64 and net.steps.dtype == np.int64       # ints stay
    assert net.blocks[0].weight.grad.dtype == np.float64
    assert net.to("cpu", dtype="float32").mean.dtype == np.float32
    assert net.to(ts.zeros(1, dtype=ts.float64)).out.bias.dtype == np.float64
    assert net.to(device="cpu") is net and net.cpu() is net
    with pytest.raises(RuntimeError, match="Net.to: tinygrad_seq computes on the CPU only, so "
                                           "device 'cuda' is not available"):
        net.to("cuda")
    with pytest.raises(RuntimeError, match="Net.cuda: .* device 'cuda:1' is not available"):
        net.cuda(1)
    with pytest.raises(TypeError, match="only floating-point dtypes"):
        net.to(ts.int64)
    with pytest.raises(TypeError, match="only floating-point dtypes"):
        net.to(ts.tensor([1, 2]))             # as PyTorch: to(tensor) takes its dtype


def test_apply_visits_children_first_then_the_module():
    net = normalizer(ts)
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Embedding", "Linear", "Linear", "ModuleList", "Linear", "Linear",
                    "ModuleDict", "ParameterList", "ParameterDict", "Linear", "Net"]

    def init(m):
        if isinstance(m, nn.Linear):
            with ts.no_grad():
                m.weight.fill_(0.5)
                m.bias.zero_()
    net.apply(init)
    assert np.all(net.blocks[1].weight.numpy() == 0.5) and np.all(net.out.bias.numpy() == 0)


@live
def test_apply_order_matches_pytorch():
    import torch
    ours, theirs = [], []
    normalizer(ts).apply(lambda m: ours.append(type(m).__name__))
    normalizer(torch).apply(lambda m: theirs.append(type(m).__name__))
    assert ours == theirs


def test_requires_grad_and_zero_grad_on_modules():
    net = normalizer(ts)
    assert net.blocks.requires_grad_(False) is net.blocks
    out = net(ts.tensor([[1, 2]]))[0].sum()
    out.backward()
    assert net.blocks[0].weight.grad is None and net.embed.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert np.all(net.embed.weight.grad.numpy() == 0)
    net.zero_grad()
    assert net.embed.weight.grad is None
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    first, last = layers[0], layers[-1]
    layers.append(nn.Linear(2, 4)).extend([nn.Dropout()])
    layers.insert(1, nn.Linear(2, 3))
    assert len(layers) == 6 and layers[0] is first and layers[3] is last
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3", "4", "5"]
    assert list(layers.state_dict())[:4] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    head = layers[1:3]
    assert isinstance(head, nn.ModuleList) and list(head) == [layers[1], layers[2]]
    assert last.weight.name == "3.weight" and last._scope_name == "3"  # a slice renames nothing
    del layers[1]
    assert len(layers) == 5 and layers[2] is last and "4" in dict(layers.named_children())
    assert layers.pop() is not None and len(layers) == 4
    layers[0] = nn.Linear(2, 5)
    assert layers[0].out_features == 5
    layers += [nn.Linear(1, 1)]
    assert len(layers + nn.ModuleList([nn.Linear(1, 1)])) == 6 and len(layers) == 5
    with pytest.raises(IndexError, match="index 9 is out of range for 5 items"):
        layers[9]
    with pytest.raises(TypeError, match="expected an iterable of modules, got a Linear"):
        layers.extend(nn.Linear(1, 1))
    with pytest.raises(TypeError, match="has no forward"):
        layers(ts.zeros(1))


def test_modules_in_containers_record_under_the_containers_name():
    net = normalizer(ts)
    with ts.Tape() as tape:
        net(ts.tensor([[1, 2]]))
    paths = {node.scope.path for node in tape if node.scope is not None}
    assert {"blocks.0", "blocks.1", "heads.tag", "out", "embed"} <= paths
    late = nn.ModuleList([nn.ModuleList([nn.Linear(2, 2)])])    # named after it is filled
    outer = nn.Module()
    outer.stack = late
    assert late[0][0]._scope_name == "stack.0.0" and late[0][0].weight.name == "stack.0.0.weight"
    late.append(nn.Linear(2, 2))                                # appended after it was named
    assert late[1].weight.name == "stack.1.weight" and late[0][0].bias.name == "stack.0.0.bias"


def test_module_dict():
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 3)
    heads.update([("c", nn.Linear(2, 2))])
    assert list(heads) == list(heads.keys()) == ["a", "b", "c"] and "b" in heads
    assert [m.out_features for m in heads.values()] == [1, 3, 2]
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias", "c.weight",
                                        "c.bias"]
    assert heads.pop("a").out_features == 1 and len(heads) == 2
    del heads["b"]
    assert list(heads) == ["c"]
    with pytest.raises(KeyError, match="contain no '.'"):
        heads["x.y"] = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="must be a Module or None, got int"):
        heads["z"] = 3
    heads.clear()
    assert len(heads) == 0 and list(heads.parameters()) == []


def test_parameter_list_and_dict():
    shared = ts.ones(2)
    plist = nn.ParameterList([shared, nn.Parameter(ts.zeros(3))])
    plist.append(ts.full((1,), 2.0))
    assert len(plist) == 3 and all(isinstance(p, nn.Parameter) for p in plist)
    assert np.shares_memory(plist[0].numpy(), shared.numpy())   # a tensor becomes a Parameter
    assert [n for n, _ in plist.named_parameters()] == ["0", "1", "2"] and plist[-1] is plist[2]
    assert len(plist[1:]) == 2 and "(2): (1,) float32" in repr(plist)
    pdict = nn.ParameterDict({"w": ts.ones(2)})
    pdict["b"] = nn.Parameter(ts.zeros(1))
    assert list(pdict) == ["w", "b"] and isinstance(pdict["w"], nn.Parameter)
    assert [n for n, _ in pdict.named_parameters()] == ["w", "b"] and "b" in pdict
    assert pdict.get("missing") is None and pdict.pop("w").shape == (2,)
    assert list(pdict.keys()) == ["b"] and len(pdict) == 1
    with pytest.raises(KeyError):
        pdict["missing"]
    with pytest.raises(TypeError, match="ParameterList holds tensors .* got float"):
        plist.append(1.5)
    model = nn.Module()
    model.weights = plist
    assert len(list(model.parameters())) == 3


def test_register_parameter_and_add_module():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(ts.ones(2)))
    m.register_parameter("bias", None)
    m.add_module("inner", nn.Linear(2, 2))
    m.register_module("other", None)
    assert m.bias is None and m.other is None
    assert list(m.state_dict()) == ["w", "inner.weight", "inner.bias"]
    with pytest.raises(TypeError, match="must be a Parameter or None, got Tensor"):
        m.register_parameter("v", ts.ones(1))
    with pytest.raises(TypeError, match="cannot assign a Tensor to the parameter 'bias'"):
        m.bias = ts.ones(1)
    with pytest.raises(TypeError, match="cannot assign a int to the child module 'inner'"):
        m.inner = 3
    shared = nn.Linear(1, 1)
    m.first, m.second = shared, shared
    assert [n for n, _ in m.named_modules()] == ["", "inner", "first"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == ["", "inner", "first",
                                                                       "second"]
    assert "second.weight" in m.state_dict() and len(list(m.children())) == 2


def test_registered_names_read_the_registries_whatever_changed_them():
    """`self.weight` goes through a descriptor on the class (module._Member), not __getattr__:
    it must give what __getattr__ gave, however the registries were changed."""
    class Net(nn.Module):
        def __init__(self, plain=False):
            super().__init__()
            if plain:
                self.fc = "a plain attribute"     # another instance: fc is not registered
            else:
                self.fc = nn.Linear(2, 2)

    a, b = Net(), Net(plain=True)
    assert isinstance(a.fc, nn.Linear) and b.fc == "a plain attribute"
    w = nn.Parameter(ts.ones(2, 2))
    a.fc._parameters["weight"] = w              # changed behind setattr's back
    assert a.fc.weight is w
    del a.fc.weight
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'weight'"):
        a.fc.weight
    a.fc = None
    assert a.fc is None and Net().fc.weight.shape == (2, 2)
    c = copy.deepcopy(Net())
    c.fc.bias = None
    assert c.fc.bias is None and Net().fc.bias is not None

    class Scaled(nn.Linear):                    # a property on a subclass still wins
        @property
        def weight(self):
            return self._parameters["weight"] * 2
    s = Scaled(2, 2)
    np.testing.assert_array_equal(s.weight.numpy(), 2 * s._parameters["weight"].numpy())


def test_parameter_of_a_tensor_shares_memory():
    t = ts.zeros(3)
    p = nn.Parameter(t)
    assert np.shares_memory(p.numpy(), t.numpy()) and p.requires_grad and p.is_leaf
    frozen = nn.Parameter(t, requires_grad=False)
    assert not frozen.requires_grad
    copied = nn.Parameter(np.zeros(3))
    assert copied.dtype == np.float64


def test_embedding_from_pretrained():
    vectors = ts.tensor(np.arange(12.0).reshape(4, 3), dtype=ts.float32)
    emb = nn.Embedding.from_pretrained(vectors)
    assert not emb.weight.requires_grad and np.shares_memory(emb.weight.numpy(), vectors.numpy())
    np.testing.assert_array_equal(emb(ts.tensor([3, 0])).numpy(), [[9, 10, 11], [0, 1, 2]])
    trainable = nn.Embedding.from_pretrained(vectors, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and trainable.padding_idx == 1
    np.testing.assert_array_equal(trainable.weight.numpy()[1], [3, 4, 5])   # left as given
    trainable(ts.tensor([1, 2, 2])).sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad.numpy()[:, 0], [0, 0, 2, 0])
    from_numpy = nn.Embedding.from_pretrained(np.ones((2, 2)))
    assert from_numpy.weight.dtype == np.float64 and from_numpy.num_embeddings == 2
    with pytest.raises(ValueError, match=r"2-D float tensor .* got shape \(3,\)"):
        nn.Embedding.from_pretrained(ts.ones(3))
    with pytest.raises(ValueError, match="int64"):
        nn.Embedding.from_pretrained(ts.tensor([[1, 2]]))


@live
def test_embedding_from_pretrained_matches_pytorch():
    import torch
    vectors = np.random.default_rng(0).standard_normal((5, 3))
    ours = nn.Embedding.from_pretrained(ts.tensor(vectors), freeze=False, padding_idx=2)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(vectors), freeze=False, padding_idx=2)
    idx = [[2, 4, 2], [0, 1, 2]]
    a, b = ours(ts.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    (a * a).sum().backward()
    (b * b).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    assert ours.weight.requires_grad == theirs.weight.requires_grad
