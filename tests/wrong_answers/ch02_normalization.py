"""Wrong answers to assignment 2 (normalization).

Most are the solution with one part swapped for a typical mistake
(:func:`solution_with`), so that each differs from a right answer in exactly
what its description says.
"""

from tests.grading import SOLUTIONS
from tests.wrong_answers import WrongAnswer, solution_editor

solution_with = solution_editor(SOLUTIONS / "ch02_normalization" / "ch02_normalization.ipynb")


BATCH_VARIANCE = "var = ((x - mean.reshape(per_channel)) ** 2).mean(dim=dims)"
RUNNING_VAR = "momentum * var * count / (count - 1)"
SQRT = "torch.sqrt(var.reshape(per_channel) + eps)"

WRONG_ANSWERS = {
    "batch_norm_forward": [
        WrongAnswer(
            "PyTorch's batch norm through a private route (torch._C._VariableFunctions)",
            """
def batch_norm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    mean, var = running_mean.clone(), running_var.clone()
    y = torch._C._VariableFunctions.batch_norm(x, gamma, beta, mean, var, training, momentum, eps, False)
    return y, mean, var
""",
        ),
        WrongAnswer(
            "the unbiased variance in the normalization",
            solution_with("batch_norm_forward", (BATCH_VARIANCE, "var = x.var(dim=dims)"), (RUNNING_VAR, "momentum * var")),
        ),
        WrongAnswer(
            "running_var updated with the biased batch variance",
            solution_with("batch_norm_forward", (RUNNING_VAR, "momentum * var")),
        ),
        WrongAnswer(
            "the momentum convention reversed (momentum weights the old statistic)",
            solution_with(
                "batch_norm_forward",
                ("(1 - momentum) * running_mean + momentum * mean", "momentum * running_mean + (1 - momentum) * mean"),
                ("(1 - momentum) * running_var + momentum * var", "momentum * running_var + (1 - momentum) * var"),
            ),
        ),
        WrongAnswer(
            "each sample normalized over its features (layer norm) instead of each channel over the batch",
            """
def batch_norm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    per_channel = [1, -1] + [1] * (x.dim() - 2)
    per_sample = list(range(1, x.dim()))
    mean = x.mean(dim=per_sample, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=per_sample, keepdim=True)
    y = gamma.reshape(per_channel) * (x - mean) / torch.sqrt(var + eps) + beta.reshape(per_channel)
    channel_dims = [0, *range(2, x.dim())]
    new_mean = (1 - momentum) * running_mean + momentum * x.mean(dim=channel_dims)
    new_var = (1 - momentum) * running_var + momentum * x.var(dim=channel_dims)
    return y, new_mean, new_var
""",
        ),
        WrongAnswer(
            "a 4-D input normalized over the batch only, each position of a channel on its own",
            solution_with("batch_norm_forward", ("dims = [0, *range(2, x.dim())]", "dims = [0]"), ("count = x.numel() // x.shape[1]", "count = x.shape[0]"),
                          ("mean.reshape(per_channel)", "mean"), ("var.reshape(per_channel)", "var")),
        ),
        WrongAnswer(
            "the running variance's correction with the batch size N instead of the values per channel",
            solution_with("batch_norm_forward", (RUNNING_VAR, "momentum * var * x.shape[0] / (x.shape[0] - 1)")),
        ),
        WrongAnswer(
            "ValueError when the batch has one example, even if a channel has several values",
            solution_with("batch_norm_forward", ("if count < 2:", "if x.shape[0] < 2:")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "ValueError for a single example in evaluation mode too",
            solution_with("batch_norm_forward", ("    if training:\n        count", "    if x.shape[0] < 2:\n        raise ValueError('need a batch')\n    if training:\n        count")),
        ),
        WrongAnswer(
            "eps outside the square root",
            solution_with("batch_norm_forward", (SQRT, "(torch.sqrt(var.reshape(per_channel)) + eps)")),
        ),
        WrongAnswer(
            "the batch statistics in evaluation mode too",
            solution_with(
                "batch_norm_forward",
                ("mean, var = running_mean, running_var", "mean, var = x.mean(dim=dims), ((x - x.mean(dim=dims).reshape(per_channel)) ** 2).mean(dim=dims)"),
            ),
        ),
        WrongAnswer(
            "the running statistics updated in place",
            solution_with(
                "batch_norm_forward",
                ("new_running_mean = (1 - momentum) * running_mean + momentum * mean",
                 "new_running_mean = running_mean.mul_(1 - momentum).add_(momentum * mean)"),
            ),
        ),
        WrongAnswer(
            "no ValueError for a channel with a single value in training mode",
            solution_with("batch_norm_forward", ("if count < 2:", "if count < 1:"), (RUNNING_VAR, "momentum * var * count / max(count - 1, 1)")),
        ),
    ],
    "batch_norm_backward": [
        WrongAnswer(
            "the batch mean and variance treated as constants",
            solution_with(
                "batch_norm_backward",
                ("""dx = gamma.reshape(per_channel) * inv_std / count * (
        count * dy - dbeta.reshape(per_channel) - x_hat * dgamma.reshape(per_channel)
    )""", "dx = gamma.reshape(per_channel) * inv_std * dy"),
            ),
        ),
        WrongAnswer(
            "the path through the variance left out (only the mean's term)",
            solution_with("batch_norm_backward", (" - x_hat * dgamma.reshape(per_channel)", "")),
        ),
        WrongAnswer(
            "dgamma as the sum of dy * x instead of dy * x_hat",
            solution_with("batch_norm_backward", ("dgamma = (dy * x_hat).sum(dim=dims)", "dgamma = (dy * x).sum(dim=dims)")),
        ),
        WrongAnswer(
            "for 4-D inputs, sums over the batch only",
            solution_with("batch_norm_backward", ("dims = [0, *range(2, x.dim())]", "dims = [0]"), ("count = x.numel() // x.shape[1]", "count = x.shape[0]")),
        ),
        WrongAnswer(
            "the unbiased variance in x_hat",
            solution_with("batch_norm_backward", ("(centred ** 2).mean(dim=dims, keepdim=True)", "(centred ** 2).sum(dim=dims, keepdim=True) / (count - 1)")),
        ),
        WrongAnswer(
            "dgamma and dbeta returned in the wrong order",
            solution_with("batch_norm_backward", ("return dx, dgamma, dbeta", "return dx, dbeta, dgamma")),
        ),
        WrongAnswer(
            "PyTorch's native_batch_norm_backward operator, a route around autograd",
            """
def batch_norm_backward(dy, x, gamma, eps=1e-5):
    dims = [0, *range(2, x.dim())]
    mean = x.mean(dim=dims)
    inv_std = 1.0 / torch.sqrt(((x - mean.reshape([1, -1] + [1] * (x.dim() - 2))) ** 2).mean(dim=dims) + eps)
    return torch.ops.aten.native_batch_norm_backward(dy, x, gamma, None, None, mean, inv_std, True, eps, [True, True, True])
""",
        ),
        WrongAnswer(
            "autograd instead of the gradients by hand",
            """
def batch_norm_backward(dy, x, gamma, eps=1e-5):
    x_, gamma_ = x.clone().requires_grad_(), gamma.clone().requires_grad_()
    dims = [0, *range(2, x.dim())]
    per_channel = [1, -1] + [1] * (x.dim() - 2)
    mean = x_.mean(dim=dims, keepdim=True)
    var = ((x_ - mean) ** 2).mean(dim=dims, keepdim=True)
    y = gamma_.reshape(per_channel) * (x_ - mean) / torch.sqrt(var + eps)
    dx, dgamma = torch.autograd.grad(y, (x_, gamma_), grad_outputs=dy)
    return dx, dgamma, dy.sum(dim=dims)
""",
        ),
    ],
    "group_norm": [
        WrongAnswer(
            "statistics per channel (that is instance norm)",
            solution_with("group_norm", ("grouped = x.reshape(batch, num_groups, -1)", "grouped = x.reshape(batch, channels, -1)")),
        ),
        WrongAnswer(
            "statistics over all channels whatever num_groups (that is layer norm)",
            solution_with("group_norm", ("grouped = x.reshape(batch, num_groups, -1)", "grouped = x.reshape(batch, 1, -1)")),
        ),
        WrongAnswer(
            "the unbiased variance",
            solution_with("group_norm", ("var = ((grouped - mean) ** 2).mean(dim=2, keepdim=True)", "var = grouped.var(dim=2, keepdim=True)")),
        ),
        WrongAnswer(
            "groups of interleaved channels (channel c in group c % num_groups) instead of consecutive ones",
            solution_with(
                "group_norm",
                ("grouped = x.reshape(batch, num_groups, -1)", "grouped = x.reshape(batch, channels // num_groups, num_groups, -1).transpose(1, 2).reshape(batch, num_groups, -1)"),
                ("x_hat = ((grouped - mean) / torch.sqrt(var + eps)).reshape(x.shape)",
                 "x_hat = ((grouped - mean) / torch.sqrt(var + eps)).reshape(batch, num_groups, channels // num_groups, -1).transpose(1, 2).reshape(x.shape)"),
            ),
        ),
        WrongAnswer(
            "no ValueError when the channels do not split into equal groups",
            solution_with("group_norm", ("if channels % num_groups != 0:", "if num_groups > channels:")),
        ),
        WrongAnswer(
            "eps ignored (a fixed 1e-5)",
            solution_with("group_norm", ("torch.sqrt(var + eps)", "torch.sqrt(var + 1e-5)")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the input normalized in place",
            solution_with("group_norm", ("grouped = x.reshape(batch, num_groups, -1)", "grouped = x.view(batch, num_groups, -1)"),
                          ("x_hat = ((grouped - mean) / torch.sqrt(var + eps)).reshape(x.shape)",
                           "grouped.sub_(mean).div_(torch.sqrt(var + eps))\n    x_hat = x")),
        ),
        WrongAnswer(
            "calls PyTorch's native_group_norm, a route around F.group_norm",
            """
def group_norm(x, num_groups, weight, bias, eps=1e-5):
    n, c = x.shape[0], x.shape[1]
    return torch.native_group_norm(x.contiguous(), weight, bias, n, c, x[0, 0].numel(), num_groups, eps)[0]
""",
        ),
        WrongAnswer(
            "calls torch.nn.functional.group_norm",
            """
def group_norm(x, num_groups, weight, bias, eps=1e-5):
    return F.group_norm(x, num_groups, weight, bias, eps)
""",
        ),
    ],
}
