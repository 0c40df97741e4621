"""The claims of chapter 2's notebooks 06 (training and evaluation mode) and 07
(variants of batch norm, max pooling), asserted on seeds 0, 1 and 2.

Notebook 06's claims are computed here from scratch with PyTorch's own
modules. For notebook 07 the tests execute the notebook's definition cells
(``BatchInstanceNorm2d``, ``VirtualBatchNorm1d`` and ``VBNNet``,
``max_pool_forward`` and ``max_pool_backward``; nothing else of the notebook
runs) and check those definitions against PyTorch, so that the code the book
shows is the code that is tested.

Margins: a threshold is about half of the smallest value measured over the
three seeds (the measurement is in a comment beside it); an exact property
(eval mode, VBN, the max-pool gradient) is asserted exactly or to float
rounding.
"""

import copy
import functools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from owll_helpers.data import load_digits_splits
from owll_helpers.models import init_weights, mlp
from owll_helpers.optim import Adam
from owll_helpers.train import fit

SEEDS = (0, 1, 2)
NOTEBOOK_07 = Path(__file__).resolve().parents[1] / "book" / "02_normalization" / "07_variants_and_pooling.ipynb"
DEFINED_IN_07 = ("BatchInstanceNorm2d", "VirtualBatchNorm1d", "VBNNet", "max_pool_forward", "max_pool_backward")


def _load_definitions():
    """Execute the code cells of notebook 07 that define DEFINED_IN_07, and return those names."""
    namespace = {"torch": torch, "nn": nn, "F": F}
    for cell in json.loads(NOTEBOOK_07.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and any(
            f"class {name}(" in source or f"def {name}(" in source for name in DEFINED_IN_07
        ):
            exec(compile(source, f"{NOTEBOOK_07.name}:{cell.get('id')}", "exec"), namespace)
    missing = [name for name in DEFINED_IN_07 if name not in namespace]
    assert not missing, f"notebook 07 no longer defines {missing}"
    return {name: namespace[name] for name in DEFINED_IN_07}


NB07 = _load_definitions()


@functools.lru_cache(maxsize=None)
def _trained_bn_mlp(seed):
    data = load_digits_splits(seed=seed)
    torch.manual_seed(seed)
    model = mlp(64, 10, depth=2, width=64, norm="batch", init="kaiming_normal")
    fit(model, data.train, epochs=5, lr=0.05, seed=seed, progress=False)
    return model, data


def trained_bn_mlp(seed):
    """Notebook 06's network: 2 hidden layers of 64 units with batch norm, 5 epochs of SGD (a fresh copy)."""
    model, data = _trained_bn_mlp(seed)
    return copy.deepcopy(model), data


def spread_over_batches(net, digit, others, *, batch_size, n_batches, seed):
    """Largest range, over n_batches random batches that hold `digit` first, of any of its outputs."""
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    with torch.no_grad():
        for _ in range(n_batches):
            companions = others[torch.randperm(len(others), generator=generator)[: batch_size - 1]]
            outputs.append(net(torch.cat([digit, companions]))[0])
    outputs = torch.stack(outputs)
    return float((outputs.amax(0) - outputs.amin(0)).max())


# --- notebook 06: training mode and evaluation mode -----------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_train_and_eval_mode_give_different_outputs(seed):
    model, data = trained_bn_mlp(seed)
    probe = copy.deepcopy(model).train()
    model.eval()
    x = data.test.x[:64]
    with torch.no_grad():
        difference = float((probe(x) - model(x)).abs().max())
    # Measured: largest logit difference 2.19, 1.32, 2.54 on seeds 0, 1, 2.
    assert difference > 0.66, f"train vs eval mode: largest logit difference {difference:.3g}"


@pytest.mark.parametrize("seed", SEEDS)
def test_train_mode_output_depends_on_the_batch_and_eval_mode_does_not(seed):
    model, data = trained_bn_mlp(seed)
    probe = copy.deepcopy(model).train()
    model.eval()
    digit, others = data.test.x[:1], data.test.x[1:]
    in_train = spread_over_batches(probe, digit, others, batch_size=4, n_batches=20, seed=seed)
    in_eval = spread_over_batches(model, digit, others, batch_size=4, n_batches=20, seed=seed)
    # Measured: range of a logit of test digit 0 over 20 batches of 4: 8.47, 7.63, 8.01; in eval mode 0.
    assert in_train > 3.8, f"train mode: the digit's logits vary by only {in_train:.3g} across batches"
    assert in_eval <= 1e-5, f"eval mode: the digit's logits vary by {in_eval:.3g} across batches"


@pytest.mark.parametrize("seed", SEEDS)
def test_requires_grad_false_does_not_freeze_running_statistics_but_eval_does(seed):
    model, data = trained_bn_mlp(seed)
    batch = data.test.x[:10]

    def frozen(training, momentum=None):
        net = copy.deepcopy(model)
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        if momentum is not None:
            for module in net.modules():
                if isinstance(module, nn.BatchNorm1d):
                    module.momentum = momentum
        return net.train(training)

    changes = {}
    for name, net in (("train", frozen(True)), ("eval", frozen(False)), ("momentum 0", frozen(True, 0.0))):
        before = [(m.running_mean.clone(), m.running_var.clone()) for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
        with torch.no_grad():
            net(batch)
        after = [(m.running_mean, m.running_var) for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
        changes[name] = max(float((a - b).abs().max()) for pair_a, pair_b in zip(after, before) for a, b in zip(pair_a, pair_b))
    # Measured: first layer's running mean moves by up to 0.044, 0.050, 0.037 after one batch of 10.
    assert changes["train"] > 0.018, f"train() with frozen parameters: running statistics moved only {changes['train']:.3g}"
    assert changes["eval"] == 0, f"eval(): running statistics moved by {changes['eval']:.3g}"
    assert changes["momentum 0"] == 0, f"momentum 0: running statistics moved by {changes['momentum 0']:.3g}"
    net = frozen(False)
    net.train()
    assert all(m.training for m in net.modules()), "model.train() should put a base that was in eval() back into training mode"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", (0.1, 0.3, 0.5))
def test_dropout_inflates_the_variance_batch_norm_learns_by_one_over_one_minus_p(seed, p):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout's masks
    dropout, bn = nn.Dropout(p), nn.BatchNorm1d(32)
    with torch.no_grad():
        for _ in range(200):  # zero-mean, unit-variance inputs, dropout and batch norm in training mode
            bn(dropout(torch.randn(256, 32, generator=generator)))
        x = torch.randn(4096, 32, generator=generator)
        train_ratio = float((dropout(x).var(0) / x.var(0)).mean())
    running_ratio = float(bn.running_var.mean())  # the eval-mode input has variance 1
    expected = 1 / (1 - p)
    # Measured: ratio * (1 - p) within 0.004 of 1 (train/eval variance) and within 0.013 of 1
    # (running variance / eval variance) on all seeds and rates; the excess over 1 was at least
    # 0.97 of p / (1 - p), so the shift is asserted at half of that.
    for name, ratio in (("train-mode / eval-mode variance", train_ratio), ("running variance / eval-mode variance", running_ratio)):
        assert abs(ratio / expected - 1) < 0.03, f"p={p}: {name} {ratio:.3g}, expected about {expected:.3g}"
        assert ratio - 1 > 0.48 * p / (1 - p), f"p={p}: {name} {ratio:.3g} shows no variance shift"


@pytest.mark.parametrize("seed", SEEDS)
def test_running_variance_after_dropout_exceeds_the_test_variance_in_a_trained_network(seed):
    data = load_digits_splits(seed=seed)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.5),
                        nn.Linear(128, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    fit(net, data.train, epochs=5, lr=0.05, seed=seed, progress=False)
    net.eval()
    with torch.no_grad():
        test_variance = net[:5](data.test.x).var(0)
    ratio = float((net[5].running_var / test_variance).mean())
    # Measured: 1.33, 1.35, 1.30 (the excess over 1 at least 0.30).
    assert ratio > 1.15, f"p=0.5: running variance / test variance at the second batch norm {ratio:.3g}"


# --- notebook 07: batch-instance norm ----------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_instance_norm_is_batch_norm_at_rho_1_and_instance_norm_at_rho_0(seed):
    generator = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(16, 8, 6, 6, generator=generator) + 1
    layer, bn = NB07["BatchInstanceNorm2d"](8), nn.BatchNorm2d(8)
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5, generator=generator)
        layer.bias.normal_(generator=generator)
        bn.weight.copy_(layer.weight)
        bn.bias.copy_(layer.bias)
        layer.rho.fill_(1.0)
        torch.testing.assert_close(layer(x), bn(x), atol=1e-5, rtol=0, msg="rho = 1, training mode: not batch norm")
        layer.eval()  # both layers updated their running statistics once, from the same batch
        bn.eval()
        torch.testing.assert_close(layer(x), bn(x), atol=1e-5, rtol=0, msg="rho = 1, evaluation mode: not batch norm")
        layer.train()
        layer.rho.fill_(0.0)
        instance = F.instance_norm(x, weight=layer.weight, bias=layer.bias)
        torch.testing.assert_close(layer(x), instance, atol=1e-5, rtol=0, msg="rho = 0: not instance norm")
        layer.rho.copy_(torch.linspace(-0.5, 1.5, 8))
        layer.clip_()
    rho = layer.rho.detach()
    assert float(rho.min()) == 0 and float(rho.max()) == 1, "clip_ should keep rho in [0, 1]"


def styled_digits_rho(seed, task, epochs=10):
    """Notebook 07's experiment: mean rho of Conv-BIN-ReLU-Linear after training on styled digits."""
    images = load_digits_splits(seed=seed, images=True)
    generator = torch.Generator().manual_seed(seed)
    contrast = torch.exp(torch.empty(len(images.train)).uniform_(-1.5, 1.5, generator=generator))
    brightness = torch.empty(len(images.train)).uniform_(-1.0, 1.0, generator=generator)
    x = contrast.view(-1, 1, 1, 1) * images.train.x + brightness.view(-1, 1, 1, 1)
    y, n_classes = (images.train.y, 10) if task == "digit" else ((contrast > contrast.median()).long(), 2)
    torch.manual_seed(seed)
    norm = NB07["BatchInstanceNorm2d"](8, rho=0.5)
    net = nn.Sequential(nn.Conv2d(1, 8, 3), norm, nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, n_classes))
    optimizer = Adam(net.parameters(), lr=0.01)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.randperm(len(y), generator=order).split(64):
            loss = F.cross_entropy(net(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            norm.clip_()
    return float(norm.rho.detach().mean())


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_rho_moves_to_instance_norm_when_style_is_a_nuisance_and_to_batch_norm_when_it_is_the_label(seed):
    digit, contrast = styled_digits_rho(seed, "digit"), styled_digits_rho(seed, "contrast")
    # Measured from rho = 0.5: digit task 0.109, 0.140, 0.095 (at least 0.36 below the start);
    # contrast task 0.702, 0.728, 0.737 (at least 0.20 above the start).
    assert digit < 0.32, f"digit task: mean rho {digit:.3g}, expected it to move towards instance norm"
    assert contrast > 0.6, f"contrast task: mean rho {contrast:.3g}, expected it to move towards batch norm"


# --- notebook 07: virtual batch norm -----------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_virtual_batch_norm_uses_the_reference_batch_plus_the_example(seed):
    generator = torch.Generator().manual_seed(seed)
    reference = 2 + 3 * torch.randn(64, 5, generator=generator)
    x = 2 + 3 * torch.randn(6, 5, generator=generator)
    y, _ = NB07["VirtualBatchNorm1d"](5)(x, reference)
    for i in range(len(x)):  # batch-norm statistics of the reference batch with example i appended
        expected = F.batch_norm(torch.cat([reference, x[i : i + 1]]), None, None, training=True, eps=1e-5)[-1]
        torch.testing.assert_close(y[i], expected, atol=1e-5, rtol=0, msg=f"example {i}")


@pytest.mark.parametrize("seed", SEEDS)
def test_virtual_batch_norm_output_does_not_depend_on_the_batch(seed):
    data = load_digits_splits(seed=seed)
    torch.manual_seed(seed)
    net = init_weights(NB07["VBNNet"]([64, 64, 64, 10], data.train.x[:64]), "kaiming_normal")
    digit, others = data.test.x[:1], data.test.x[1:]
    vbn = spread_over_batches(net, digit, others, batch_size=8, n_batches=20, seed=seed)
    torch.manual_seed(seed)
    bn_net = mlp(64, 10, depth=2, width=64, norm="batch", init="kaiming_normal").train()
    bn = spread_over_batches(bn_net, digit, others, batch_size=8, n_batches=20, seed=seed)
    # Measured: VBN 0 on every seed; batch norm in training mode (same initialization, untrained) far above.
    assert vbn <= 1e-5, f"VBN: the digit's logits vary by {vbn:.3g} across batches"
    assert bn > 0.1, f"batch norm in training mode: the digit's logits vary by only {bn:.3g} across batches"


# --- notebook 07: max pooling --------------------------------------------------------

LAYOUTS = ((2, 2), (3, 2), (3, 1), (2, 1))


def max_pool_gradients(x, kernel, stride, upstream):
    """(hand-written, F.max_pool2d's, amax's) gradients, and the two forward outputs."""
    out, first = NB07["max_pool_forward"](x, kernel, stride)
    by_hand = NB07["max_pool_backward"](upstream, first, x.shape, kernel, stride)
    leaf = x.clone().requires_grad_(True)
    reference = F.max_pool2d(leaf, kernel, stride)
    (torch_grad,) = torch.autograd.grad(reference, leaf, upstream)
    leaf = x.clone().requires_grad_(True)
    (amax_grad,) = torch.autograd.grad(leaf.unfold(2, kernel, stride).unfold(3, kernel, stride).flatten(-2).amax(-1), leaf, upstream)
    return out, reference.detach(), by_hand, torch_grad, amax_grad


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kernel, stride", LAYOUTS)
def test_max_pool_backward_equals_f_max_pool2d_including_ties(seed, kernel, stride):
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "random": torch.randn(3, 2, 9, 9, generator=generator),
        "integers 0-2 (ties)": torch.randint(0, 3, (3, 2, 9, 9), generator=generator).float(),
        "all zeros (every window tied)": torch.zeros(3, 2, 9, 9),
    }
    for name, x in inputs.items():
        size = (9 - kernel) // stride + 1
        upstream = torch.randn(3, 2, size, size, generator=generator)
        out, reference, by_hand, torch_grad, amax_grad = max_pool_gradients(x, kernel, stride, upstream)
        assert torch.equal(out, reference), f"{name}, kernel {kernel}, stride {stride}: forward differs from F.max_pool2d"
        assert torch.equal(by_hand, torch_grad), f"{name}, kernel {kernel}, stride {stride}: gradient differs from F.max_pool2d's"
        gap = float((by_hand - amax_grad).abs().max())
        if name == "random":
            assert gap < 1e-5, f"random input, kernel {kernel}, stride {stride}: gradient differs from amax's by {gap:.3g}"
        else:
            # Measured: at least 1.34 on every seed and layout (integer inputs, kernel 2, stride 2, seed 0).
            assert gap > 0.65, f"{name}, kernel {kernel}, stride {stride}: tied maxima should not split the gradient"


def test_max_pool_tie_example_of_the_book():
    x = torch.tensor([[1.0, 3, 0, 2], [3, 0, 2, 2], [0, 1, 3, 3], [1, 1, 3, 0]]).view(1, 1, 4, 4)
    upstream = torch.tensor([[4.0, 3], [6, 12]]).view(1, 1, 2, 2)
    _, _, by_hand, torch_grad, amax_grad = max_pool_gradients(x, 2, 2, upstream)
    first = torch.tensor([[0.0, 4, 0, 3], [0, 0, 0, 0], [0, 6, 12, 0], [0, 0, 0, 0]]).view(1, 1, 4, 4)
    split = torch.tensor([[0.0, 2, 0, 1], [2, 0, 1, 1], [0, 2, 4, 4], [2, 2, 4, 0]]).view(1, 1, 4, 4)
    assert torch.equal(torch_grad, first), "F.max_pool2d no longer sends a window's gradient to its first maximum"
    assert torch.equal(by_hand, first), "the hand-written backward pass does not send the gradient to the first maximum"
    assert torch.allclose(amax_grad, split), "autograd through amax no longer splits the gradient among tied maxima"
