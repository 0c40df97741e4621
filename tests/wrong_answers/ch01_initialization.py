"""Wrong answers to assignment 1 (initialization)."""

from tests.wrong_answers import WrongAnswer

# The two Kaiming functions around a wrong `_std(tensor, a, mode, nonlinearity)`:
# most Kaiming mistakes are in the standard deviation, not in how it is used.
KAIMING_FROM_STD = """
def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    with torch.no_grad():
        return tensor.normal_(0.0, _std(tensor, a, mode, nonlinearity))

def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _std(tensor, a, mode, nonlinearity)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
"""

def hooked_statistics(*, hooked="activation_types", no_grad=True, statistics=None, guard="finally"):
    """The solution's shape of activation_statistics with one part swapped for a mistake.

    ``guard`` is how the forward pass is wrapped: ``"finally"`` (right),
    ``"none"`` (hooks stay when it raises) or ``"swallow"`` (its error is hidden).
    """
    run = "with torch.no_grad():\n        model(inputs)" if no_grad else "model(inputs)"
    remove = "for h in handles:\n        h.remove()"
    body = {
        "finally": f"try:\n    {run}\nfinally:\n    {remove}",
        "none": f"{run}\n{remove}",
        "swallow": f"try:\n    {run}\nexcept Exception:\n    return []\nfinally:\n    {remove}",
    }[guard]
    return (
        "\ndef activation_statistics(model, inputs, activation_types=(nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)):\n"
        "    outputs = []\n"
        "    handles = [m.register_forward_hook(lambda m, i, o: outputs.append(o.detach().clone()))\n"
        f"               for m in model.modules() if isinstance(m, {hooked})]\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + (statistics or STATISTICS_OF_OUTPUTS)
    )


STATISTICS_OF_OUTPUTS = """    return [{"mean": o.mean().item(), "std": o.std().item(), "saturated": (o.abs() > 0.99).float().mean().item(),
             "dead": dead_unit_fraction(o)} for o in outputs]
"""


WRONG_ANSWERS = {
    "fan_in_and_fan_out": [
        WrongAnswer(
            "fan_out where fan_in is meant (reads the shape as (in, out))",
            """
def fan_in_and_fan_out(tensor):
    receptive_field = math.prod(tensor.shape[2:])
    return int(tensor.shape[0] * receptive_field), int(tensor.shape[1] * receptive_field)
""",
        ),
        WrongAnswer(
            "a conv fan without the receptive field",
            """
def fan_in_and_fan_out(tensor):
    return int(tensor.shape[1]), int(tensor.shape[0])
""",
        ),
        WrongAnswer(
            "no check for tensors with fewer than 2 dimensions",
            """
def fan_in_and_fan_out(tensor):
    receptive_field = math.prod(tensor.shape[2:])
    fan_in = tensor.shape[1] * receptive_field if tensor.dim() > 1 else tensor.shape[0]
    return int(fan_in), int(tensor.shape[0] * receptive_field)
""",
        ),
        WrongAnswer(
            "calls PyTorch's private helper instead of computing the fans",
            """
def fan_in_and_fan_out(tensor):
    return torch.nn.init._calculate_fan_in_and_fan_out(tensor)
""",
        ),
        WrongAnswer(
            "NumPy integers instead of Python ints",
            """
import numpy as np

def fan_in_and_fan_out(tensor):
    if tensor.dim() < 2:
        raise ValueError("need at least 2 dimensions")
    receptive_field = np.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field
""",
        ),
    ],
    "xavier": [
        WrongAnswer(
            "a missing gain",
            """
def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    with torch.no_grad():
        return tensor.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))

def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
""",
        ),
        WrongAnswer(
            "a uniform bound equal to the std (the missing sqrt(3))",
            """
def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    with torch.no_grad():
        return tensor.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))

def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
""",
        ),
        WrongAnswer(
            "LeCun's 1/fan_in instead of Glorot's 2/(fan_in + fan_out)",
            """
def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    with torch.no_grad():
        return tensor.normal_(0.0, gain * math.sqrt(1.0 / fan_in))

def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
""",
        ),
        WrongAnswer(
            "fills a new tensor instead of the one given",
            """
def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return torch.randn(tensor.shape) * gain * math.sqrt(2.0 / (fan_in + fan_out))

def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(tensor.shape) * 2 - 1) * bound
""",
        ),
        WrongAnswer(
            "calls torch.nn.init (imported by name) instead of implementing it",
            """
from torch.nn.init import xavier_normal_ as _torch_xavier_normal_, xavier_uniform_ as _torch_xavier_uniform_

def xavier_normal_(tensor, gain=1.0):
    return _torch_xavier_normal_(tensor, gain=gain)

def xavier_uniform_(tensor, gain=1.0):
    return _torch_xavier_uniform_(tensor, gain=gain)
""",
        ),
    ],
    "kaiming": [
        WrongAnswer(
            "fan_out where fan_in is meant (mode ignored)",
            """
def _std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan_out)

""" + KAIMING_FROM_STD,
        ),
        WrongAnswer(
            "a missing gain (Var = 1/fan_in: LeCun's, not He's)",
            """
def _std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return 1.0 / math.sqrt(fan_in if mode == "fan_in" else fan_out)

""" + KAIMING_FROM_STD,
        ),
        WrongAnswer(
            "a uniform bound equal to the std (the missing sqrt(3))",
            """
def _std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)

def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    with torch.no_grad():
        return tensor.normal_(0.0, _std(tensor, a, mode, nonlinearity))

def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = _std(tensor, a, mode, nonlinearity)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
""",
        ),
        WrongAnswer(
            "the ReLU gain whatever the nonlinearity and slope",
            """
def _std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(mode)
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return math.sqrt(2.0) / math.sqrt(fan_in if mode == "fan_in" else fan_out)

""" + KAIMING_FROM_STD,
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "calls torch.nn.init.kaiming_*_ through the module",
            """
def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return torch.nn.init.kaiming_normal_(tensor, a=a, mode=mode, nonlinearity=nonlinearity)

def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return nn.init.kaiming_uniform_(tensor, a=a, mode=mode, nonlinearity=nonlinearity)
""",
        ),
        WrongAnswer(
            "no ValueError for a mode other than fan_in and fan_out",
            """
def _std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan_out if mode == "fan_out" else fan_in)

""" + KAIMING_FROM_STD,
        ),
        WrongAnswer(
            "the leaky slope a not passed to calculate_gain",
            """
def _std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(mode)
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return nn.init.calculate_gain(nonlinearity) / math.sqrt(fan_in if mode == "fan_in" else fan_out)

""" + KAIMING_FROM_STD,
            caught_by_visible_test=False,
        ),
    ],
    "dead_unit_fraction": [
        WrongAnswer(
            "a unit counted as dead when it is zero for one input instead of all",
            """
def dead_unit_fraction(activations):
    return (activations == 0).any(dim=0).float().mean().item()
""",
        ),
        WrongAnswer(
            "the fraction of zero values instead of zero units",
            """
def dead_unit_fraction(activations):
    return (activations == 0).float().mean().item()
""",
        ),
        WrongAnswer(
            "negative outputs counted as dead (<= 0 instead of == 0)",
            """
def dead_unit_fraction(activations):
    return (activations <= 0).all(dim=0).float().mean().item()
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "a unit whose outputs sum to zero counted as dead",
            """
def dead_unit_fraction(activations):
    return (activations.sum(dim=0) == 0).float().mean().item()
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "a unit whose largest output is 0 counted as dead (max == 0)",
            """
def dead_unit_fraction(activations):
    return (activations.max(dim=0).values == 0).float().mean().item()
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "near-zero outputs counted as zero (a tolerance instead of exactly 0)",
            """
def dead_unit_fraction(activations):
    return (activations.abs() < 1e-6).all(dim=0).float().mean().item()
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "units taken as channels only, for convolutions",
            """
def dead_unit_fraction(activations):
    flat = activations.reshape(activations.shape[0], activations.shape[1], -1)
    return (flat == 0).all(dim=2).all(dim=0).float().mean().item()
""",
            caught_by_visible_test=False,
        ),
    ],
    "activation_statistics": [
        WrongAnswer(
            "hooks left registered after returning",
            """
def activation_statistics(model, inputs, activation_types=(nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)):
    outputs = []
    for module in model.modules():
        if isinstance(module, activation_types):
            module.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    with torch.no_grad():
        model(inputs)
    return [{"mean": o.mean().item(), "std": o.std().item(), "saturated": (o.abs() > 0.99).float().mean().item(),
             "dead": dead_unit_fraction(o)} for o in outputs]
""",
        ),
        WrongAnswer(
            "hooks removed after the forward pass, but not when it raises (no try/finally)",
            hooked_statistics(guard="none"),
        ),
        WrongAnswer(
            "the biased standard deviation (unbiased=False)",
            hooked_statistics(statistics=STATISTICS_OF_OUTPUTS.replace('o.std().item()', 'o.std(unbiased=False).item()')),
        ),
        WrongAnswer(
            "statistics of the pre-activations (hooks on the linear layers)",
            hooked_statistics(hooked="nn.Linear"),
        ),
        WrongAnswer(
            "a unit counted as saturated only if saturated for every input",
            hooked_statistics(
                statistics=STATISTICS_OF_OUTPUTS.replace("(o.abs() > 0.99).float()", "(o.abs() > 0.99).all(dim=0).float()")
            ),
        ),
        WrongAnswer(
            "walks only the top-level children instead of hooking every module",
            """
def activation_statistics(model, inputs, activation_types=(nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)):
    outputs = []
    x = inputs
    with torch.no_grad():
        for child in model.children():
            x = child(x)
            if isinstance(child, activation_types):
                outputs.append(x)
    return [{"mean": o.mean().item(), "std": o.std().item(), "saturated": (o.abs() > 0.99).float().mean().item(),
             "dead": dead_unit_fraction(o)} for o in outputs]
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "statistics returned as 0-d tensors instead of floats",
            hooked_statistics(statistics=STATISTICS_OF_OUTPUTS.replace(".item()", "")),
        ),
        WrongAnswer(
            "statistics listed in module order instead of call order, one per module",
            """
def activation_statistics(model, inputs, activation_types=(nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU)):
    outputs = {}
    modules = [m for m in model.modules() if isinstance(m, activation_types)]
    handles = [m.register_forward_hook(lambda m, i, o: outputs.__setitem__(m, o.detach().clone())) for m in modules]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return [{"mean": o.mean().item(), "std": o.std().item(), "saturated": (o.abs() > 0.99).float().mean().item(),
             "dead": dead_unit_fraction(o)} for o in (outputs[m] for m in modules if m in outputs)]
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "runs the model with gradients enabled",
            hooked_statistics(no_grad=False),
        ),
        WrongAnswer(
            "swallows the error of the forward pass",
            hooked_statistics(guard="swallow"),
        ),
    ],
}
