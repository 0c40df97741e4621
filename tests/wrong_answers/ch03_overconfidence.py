"""Wrong answers to assignment 3 (overconfidence).

Most are the solution with one part swapped for a typical mistake
(:func:`solution_with`), so that each differs from a right answer in exactly
what its description says.
"""

from tests.grading import SOLUTIONS
from tests.wrong_answers import WrongAnswer, solution_editor

solution_with = solution_editor(SOLUTIONS / "ch03_overconfidence" / "ch03_overconfidence.ipynb")


MMC_MAX = "confidence_per_input = probs.max(dim=1).values"
MMC_RETURN = "return float(confidence_per_input.double().mean())"
FPR_COUNT = "n_accepted_in = -(-95 * scores_in.numel() // 100)"
FPR_THRESHOLD = "scores_in.sort(descending=True).values[n_accepted_in - 1]"
PATTERN_TEST = "unit_is_active.append(flowing > 0)"
PATTERN_RETURN = "return torch.cat(unit_is_active, dim=1)"
CEDA_TERM = "torch.log_softmax(model(x_out), dim=1)"
CEDA_RETURN = "return in_distribution_term + lam * log_top_probability_out.mean()"
ACET_CLIP = "u = torch.clamp(u, centre - eps, centre + eps).clamp(0.0, 1.0)"
ACET_STEP = "u = u.detach() + step_size * ascent_direction.sign()"
ACET_GRAD = "(ascent_direction,) = torch.autograd.grad(log_top_probability(u).sum(), u)"
ACET_START = "u = centre.clone()"

WRONG_ANSWERS = {
    "mean_max_confidence": [
        WrongAnswer(
            "the largest entry of the mean probability vector instead of the mean of the per-input maxima",
            """
def mean_max_confidence(probs):
    return float(probs.mean(dim=0).max())
""",
        ),
        WrongAnswer(
            "the maximum over the inputs of each class (dim=0), then the mean over the classes",
            solution_with("mean_max_confidence", (MMC_MAX, "confidence_per_input = probs.max(dim=0).values")),
        ),
        WrongAnswer(
            "the mean of all probabilities (always 1/K)",
            """
def mean_max_confidence(probs):
    return float(probs.mean())
""",
        ),
        WrongAnswer(
            "the mean of the predicted class indices (argmax) instead of the largest probabilities",
            solution_with("mean_max_confidence", (MMC_MAX, "confidence_per_input = probs.argmax(dim=1)")),
        ),
        WrongAnswer(
            "a 0-d tensor returned instead of a Python float",
            solution_with("mean_max_confidence", (MMC_RETURN, "return confidence_per_input.double().mean()")),
        ),
        WrongAnswer(
            "the course's owll_helpers.metrics.mean_max_confidence, imported by name",
            """
from owll_helpers.metrics import mean_max_confidence as course_mmc


def mean_max_confidence(probs):
    return course_mmc(probs)
""",
        ),
    ],
    "fpr_at_95_tpr": [
        WrongAnswer(
            "out-of-distribution as the positive class (pytorch-ood's convention: 95 % of it caught)",
            """
def fpr_at_95_tpr(scores_in, scores_out):
    outlier_in, outlier_out = -scores_in, -scores_out
    caught = math.ceil(0.95 * outlier_out.numel())
    threshold = outlier_out.sort(descending=True).values[caught - 1]
    return float((outlier_in >= threshold).double().mean())
""",
        ),
        WrongAnswer(
            "the ROC curve interpolated at exactly 95 % (np.interp of sklearn's roc_curve)",
            """
import numpy as np
from sklearn.metrics import roc_curve


def fpr_at_95_tpr(scores_in, scores_out):
    labels = np.concatenate([np.ones(scores_in.numel()), np.zeros(scores_out.numel())])
    fpr, tpr, _ = roc_curve(labels, torch.cat([scores_in, scores_out]).double().numpy())
    return float(np.interp(0.95, tpr, fpr))
""",
        ),
        WrongAnswer(
            "sklearn's roc_curve with its default drop_intermediate=True, which can drop the threshold needed",
            """
import numpy as np
from sklearn.metrics import roc_curve


def fpr_at_95_tpr(scores_in, scores_out):
    labels = np.concatenate([np.ones(scores_in.numel()), np.zeros(scores_out.numel())])
    fpr, tpr, _ = roc_curve(labels, torch.cat([scores_in, scores_out]).double().numpy())
    return float(fpr[np.argmax(tpr >= 0.95)])
""",
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "an input accepted when its score is > t instead of >= t",
            solution_with("fpr_at_95_tpr", ("scores_out >= threshold", "scores_out > threshold")),
        ),
        WrongAnswer(
            "k = int(0.95 * N_in), rounded down, instead of ceil",
            solution_with("fpr_at_95_tpr", (FPR_COUNT, "n_accepted_in = max(1, int(0.95 * scores_in.numel()))")),
        ),
        WrongAnswer(
            "k = round(0.95 * N_in), rounded to the nearest integer, instead of ceil",
            solution_with("fpr_at_95_tpr", (FPR_COUNT, "n_accepted_in = max(1, round(0.95 * scores_in.numel()))")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the threshold interpolated between two scores (torch.quantile at 5 %)",
            solution_with("fpr_at_95_tpr", (FPR_THRESHOLD, "torch.quantile(scores_in, 0.05)")),
        ),
        WrongAnswer(
            "the k-th smallest in-distribution score instead of the k-th largest",
            solution_with("fpr_at_95_tpr", (FPR_THRESHOLD, "scores_in.sort().values[n_accepted_in - 1]")),
        ),
        WrongAnswer(
            "scores_in assumed sorted in increasing order",
            solution_with("fpr_at_95_tpr", (FPR_THRESHOLD, "scores_in[scores_in.numel() - n_accepted_in]")),
        ),
        WrongAnswer(
            "the fraction of out-of-distribution inputs rejected (1 - FPR)",
            solution_with("fpr_at_95_tpr", ("scores_out >= threshold", "scores_out < threshold")),
        ),
        WrongAnswer(
            "the course's owll_helpers.metrics.fpr_at_95_tpr, through its module",
            """
import owll_helpers.metrics


def fpr_at_95_tpr(scores_in, scores_out):
    return owll_helpers.metrics.fpr_at_95_tpr(scores_in, scores_out)
""",
        ),
        WrongAnswer(
            "the course's owll_helpers.metrics.fpr_at_tpr, imported by name",
            """
from owll_helpers.metrics import fpr_at_tpr


def fpr_at_95_tpr(scores_in, scores_out):
    return fpr_at_tpr(scores_in, scores_out, 0.95)
""",
        ),
    ],
    "activation_pattern": [
        WrongAnswer(
            "the output layer included in the pattern",
            """
def activation_pattern(model, x):
    columns, signal = [], x
    with torch.no_grad():
        for module in model:
            signal = module(signal)
            if isinstance(module, nn.Linear):
                columns.append(signal > 0)
    return torch.cat(columns, dim=1)
""",
        ),
        WrongAnswer(
            "a pre-activation of exactly 0 counted as active (z >= 0)",
            solution_with("activation_pattern", (PATTERN_TEST, "unit_is_active.append(flowing >= 0)")),
        ),
        WrongAnswer(
            "only the first hidden layer",
            solution_with("activation_pattern", (PATTERN_RETURN, "return unit_is_active[0]")),
        ),
        WrongAnswer(
            "the hidden layers in reverse order",
            solution_with("activation_pattern", (PATTERN_RETURN, "return torch.cat(unit_is_active[::-1], dim=1)")),
        ),
        WrongAnswer(
            "a float tensor of zeros and ones instead of a bool tensor",
            solution_with("activation_pattern", (PATTERN_RETURN, "return torch.cat(unit_is_active, dim=1).float()")),
        ),
        WrongAnswer(
            "the model left in evaluation mode",
            solution_with("activation_pattern", ("    unit_is_active = []", "    model.eval()\n    unit_is_active = []")),
        ),
        WrongAnswer(
            "forward hooks registered and never removed",
            """
def activation_pattern(model, x):
    recorded = []
    for module in model:
        if isinstance(module, nn.ReLU):
            module.register_forward_hook(lambda layer, inputs, output: recorded.append(inputs[0] > 0))
    with torch.no_grad():
        model(x)
    return torch.cat(recorded, dim=1)
""",
        ),
    ],
    "ceda_loss": [
        WrongAnswer(
            "the slides' typo: exp(f_l) in the denominator's sum, which makes the term the constant -log K",
            """
def ceda_loss(model, x_in, y_in, x_out, lam=1.0):
    logits = model(x_out)
    top = logits.max(dim=1).values
    fraction = torch.exp(top) / (logits.shape[1] * torch.exp(top))
    return F.cross_entropy(model(x_in), y_in) + lam * torch.log(fraction).mean()
""",
        ),
        WrongAnswer(
            "the largest softmax probability instead of its log",
            solution_with("ceda_loss", (CEDA_TERM, "torch.softmax(model(x_out), dim=1)")),
        ),
        WrongAnswer(
            "the out-distribution term summed over x_out instead of averaged",
            solution_with("ceda_loss", (CEDA_RETURN, "return in_distribution_term + lam * log_top_probability_out.sum()")),
        ),
        WrongAnswer(
            "the out-distribution term subtracted (confidence on the noise rewarded)",
            solution_with("ceda_loss", (CEDA_RETURN, "return in_distribution_term - lam * log_top_probability_out.mean()")),
        ),
        WrongAnswer(
            "the out-distribution term detached: no gradient reaches the model through it",
            solution_with("ceda_loss", (CEDA_TERM, "torch.log_softmax(model(x_out).detach(), dim=1)")),
        ),
        WrongAnswer(
            "lam ignored",
            solution_with("ceda_loss", (CEDA_RETURN, "return in_distribution_term + log_top_probability_out.mean()")),
        ),
        WrongAnswer(
            "the cross entropy summed over the batch instead of averaged",
            solution_with("ceda_loss", ("F.cross_entropy(model(x_in), y_in)", "F.cross_entropy(model(x_in), y_in, reduction='sum')")),
        ),
        WrongAnswer(
            "the maximum over the batch (dim=0) instead of over the classes",
            solution_with("ceda_loss", (".max(dim=1).values", ".max(dim=0).values")),
        ),
    ],
    "acet_loss": [
        WrongAnswer(
            "no projection onto the eps-ball around x_out",
            solution_with("acet_loss", (ACET_CLIP, "u = u.clamp(0.0, 1.0)")),
        ),
        WrongAnswer(
            "no clipping to the image range [0, 1]",
            solution_with("acet_loss", (ACET_CLIP, "u = torch.clamp(u, centre - eps, centre + eps)")),
        ),
        WrongAnswer(
            "the attack's gradient put into the parameters' .grad (objective.backward() in the inner loop)",
            solution_with(
                "acet_loss",
                (ACET_GRAD, "log_top_probability(u).sum().backward()\n        ascent_direction = u.grad"),
            ),
        ),
        WrongAnswer(
            "objective.backward() in the inner loop, then model.zero_grad(), which wipes gradients that were there before",
            solution_with(
                "acet_loss",
                (ACET_GRAD, "log_top_probability(u).sum().backward()\n        ascent_direction = u.grad\n        model.zero_grad()"),
            ),
        ),
        WrongAnswer(
            "gradient descent on the confidence instead of ascent",
            solution_with("acet_loss", (ACET_STEP, "u = u.detach() - step_size * ascent_direction.sign()")),
        ),
        WrongAnswer(
            "a random start in the eps-ball",
            solution_with("acet_loss", (ACET_START, "u = (centre + eps * (2 * torch.rand_like(centre) - 1)).clamp(0.0, 1.0)")),
        ),
        WrongAnswer(
            "a step along the gradient itself instead of its sign",
            solution_with("acet_loss", (ACET_STEP, "u = u.detach() + step_size * ascent_direction")),
        ),
        WrongAnswer(
            "the outer term at x_out: the attack's result unused (that is CEDA)",
            solution_with("acet_loss", ("log_top_probability(u.detach()).mean()", "log_top_probability(centre).mean()")),
        ),
        WrongAnswer(
            "one step, whatever steps says",
            solution_with("acet_loss", ("for _step in range(steps):", "for _step in range(1):")),
        ),
        WrongAnswer(
            "x_out modified in place by the attack",
            """
def acet_loss(model, x_in, y_in, x_out, lam=1.0, eps=0.3, steps=5, step_size=0.1):
    centre = x_out.detach().clone()
    u = x_out.detach()
    for _ in range(steps):
        probe = u.clone().requires_grad_(True)
        (direction,) = torch.autograd.grad(torch.log_softmax(model(probe), dim=1).max(dim=1).values.sum(), probe)
        u += step_size * direction.sign()
        u.copy_(torch.clamp(u, centre - eps, centre + eps).clamp(0.0, 1.0))
    top = torch.log_softmax(model(u.clone()), dim=1).max(dim=1).values
    return F.cross_entropy(model(x_in), y_in) + lam * top.mean()
""",
        ),
        WrongAnswer(
            "the model left in evaluation mode after the attack",
            solution_with("acet_loss", ("    centre = x_out.detach()", "    model.eval()\n    centre = x_out.detach()")),
        ),
        WrongAnswer(
            "the course's owll_helpers.attacks.confidence_attack for the inner maximisation",
            """
from owll_helpers.attacks import confidence_attack


def acet_loss(model, x_in, y_in, x_out, lam=1.0, eps=0.3, steps=5, step_size=0.1):
    u = confidence_attack(model, x_out, eps=eps, steps=steps, step_size=step_size)
    top = torch.log_softmax(model(u), dim=1).max(dim=1).values
    return F.cross_entropy(model(x_in), y_in) + lam * top.mean()
""",
        ),
        WrongAnswer(
            "Task 4's ceda_loss called on the attacked inputs (the task must be graded on its own)",
            solution_with(
                "acet_loss",
                ("    in_distribution_term = F.cross_entropy(model(x_in), y_in)\n    return in_distribution_term + lam * log_top_probability(u.detach()).mean()",
                 "    return ceda_loss(model, x_in, y_in, u.detach(), lam)"),
            ),
        ),
    ],
}
