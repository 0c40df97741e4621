"""Wrong answers to assignment 4 (calibration).

Most are the solution with one part swapped for a typical mistake
(:func:`solution_with`), so that each differs from a right answer in exactly
what its description says.
"""

from tests.grading import SOLUTIONS
from tests.wrong_answers import WrongAnswer, solution_editor

solution_with = solution_editor(SOLUTIONS / "ch04_calibration" / "ch04_calibration.ipynb")


BINS_TABLE = "table = probs.detach().cpu().to(torch.float64).numpy()"
BINS_NAN = (
    '    if np.isnan(table).any():\n'
    '        raise ValueError("probs contains NaN: such a row has no confidence and belongs to no bin.")\n'
)
BINS_TOP = "top_probability = table.max(axis=1)"
BINS_RIGHT = "right_answer = (table.argmax(axis=1) == labels.detach().cpu().numpy()).astype(np.float64)"
BINS_EDGES = "inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]"
BINS_SEARCH = 'bin_of_input = np.searchsorted(inner_edges, top_probability, side="left")'
BINS_HITS = "hit_rate = np.bincount(bin_of_input, weights=right_answer, minlength=n_bins) / members"
BINS_MEANS = "mean_top = np.bincount(bin_of_input, weights=top_probability, minlength=n_bins) / members"
BINS_RETURN = "return mean_top, hit_rate, members"
ECE_SHARE = "share = members[filled] / members.sum()"
ECE_RETURN = "return float(np.sum(share * np.abs(hit_rate[filled] - mean_top[filled])))"
T_NLL = "return F.cross_entropy(scores / math.exp(log_temperature), label_ids).item()"
T_SEARCH = (
    'search = optimize.minimize_scalar(nll_at_log_temperature, bounds=(math.log(0.05), math.log(20.0)), method="bounded", '
    'options={"xatol": 1e-7})'
)
T_RETURN = "return math.exp(search.x)"
ODIN_EVAL = "    mode_on_entry = model.training\n    model.eval()\n"
ODIN_LOG_TOP = "log_top = torch.log_softmax(model(probe) / temperature, dim=1).max(dim=1).values"
ODIN_GRAD = "(uphill,) = torch.autograd.grad(log_top.sum(), probe)"
ODIN_STEP = "nudged = x.detach() + epsilon * uphill.sign()"
ODIN_SCORE = "return torch.softmax(model(nudged) / temperature, dim=1).max(dim=1).values"
ODIN_RESTORE = "    finally:\n        model.train(mode_on_entry)"
EOS_UNKNOWN = "per_input = torch.where(is_unknown, -log_p.mean(dim=1), known_part)"
EOS_REDUCE = '    if reduction == "none":  # one value per input\n        return per_input\n    return per_input.mean() if reduction == "mean" else per_input.sum()'
EOS_CHECK = (
    '    if reduction not in ("mean", "sum", "none"):  # as torch.nn.functional\n'
    "        raise ValueError(f\"reduction must be 'mean', 'sum' or 'none', got {reduction!r}\")\n"
)
EOS_LOG_P = "log_p = torch.log_softmax(logits, dim=1)"
OBJ_NORM = "magnitude = torch.linalg.vector_norm(features, dim=1)"
OBJ_PENALTY = "shell_penalty = torch.where(is_unknown, magnitude**2, torch.relu(xi - magnitude) ** 2)"
OBJ_TOTAL = "per_input = entropic_part + alpha * shell_penalty"
OBJ_REDUCE = EOS_REDUCE

WRONG_ANSWERS = {
    "reliability_bins": [
        WrongAnswer(
            "bins closed on the wrong side, [e[m-1], e[m]): a confidence on an edge goes to the next bin",
            solution_with("reliability_bins", (BINS_SEARCH, 'bin_of_input = np.searchsorted(inner_edges, top_probability, side="right")')),
        ),
        WrongAnswer(
            "the bin number computed as ceil(c * M) instead of comparing with the edges",
            solution_with(
                "reliability_bins",
                (BINS_SEARCH, "bin_of_input = np.clip(np.ceil(top_probability * n_bins).astype(np.int64) - 1, 0, n_bins - 1)"),
            ),
        ),
        WrongAnswer(
            "the edges from torch.linspace, which differ from np.linspace's in the last bit",
            solution_with("reliability_bins", (BINS_EDGES, "inner_edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64).numpy()[1:-1]")),
        ),
        WrongAnswer(
            "the probability of the true class instead of the top-label confidence",
            solution_with("reliability_bins", (BINS_TOP, "top_probability = table[np.arange(len(table)), labels.numpy()]")),
        ),
        WrongAnswer(
            "binned in the input's dtype: float32 confidences compared with float32 edges",
            solution_with(
                "reliability_bins",
                (BINS_TABLE, "table = probs.detach().cpu().numpy()"),
                (BINS_EDGES, "inner_edges = np.linspace(0.0, 1.0, n_bins + 1, dtype=table.dtype)[1:-1]"),
                (BINS_MEANS, "mean_top = np.bincount(bin_of_input, weights=top_probability.astype(np.float64), minlength=n_bins) / members"),
            ),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "a tie counted as correct when the true class is among the tied classes",
            solution_with(
                "reliability_bins",
                (BINS_RIGHT, "right_answer = (table[np.arange(len(table)), labels.numpy()] == top_probability).astype(np.float64)"),
            ),
        ),
        WrongAnswer(
            "the last of the tied classes as the prediction instead of the first",
            solution_with(
                "reliability_bins",
                (BINS_RIGHT, "right_answer = (table.shape[1] - 1 - table[:, ::-1].argmax(axis=1) == labels.numpy()).astype(np.float64)"),
            ),
        ),
        WrongAnswer(
            "empty bins given confidence and accuracy 0 instead of NaN",
            solution_with(
                "reliability_bins",
                (BINS_MEANS, "mean_top = np.bincount(bin_of_input, weights=top_probability, minlength=n_bins) / np.maximum(members, 1)"),
                (BINS_HITS, "hit_rate = np.bincount(bin_of_input, weights=right_answer, minlength=n_bins) / np.maximum(members, 1)"),
            ),
        ),
        WrongAnswer(
            "the accuracy of a bin divided by all N inputs instead of the bin's size",
            solution_with("reliability_bins", (BINS_HITS, "hit_rate = np.bincount(bin_of_input, weights=right_answer, minlength=n_bins) / len(table)")),
        ),
        WrongAnswer(
            "no ValueError for NaN",
            solution_with("reliability_bins", (BINS_NAN, "")),
        ),
        WrongAnswer(
            "np.digitize(c, edges, right=True) - 1, which gives confidence 0 the bin -1",
            solution_with(
                "reliability_bins",
                (BINS_SEARCH, "bin_of_input = np.digitize(top_probability, np.linspace(0.0, 1.0, n_bins + 1), right=True) - 1"),
            ),
        ),
        WrongAnswer(
            "torch tensors returned instead of NumPy arrays",
            solution_with("reliability_bins", (BINS_RETURN, "return torch.from_numpy(mean_top), torch.from_numpy(hit_rate), torch.from_numpy(members)")),
        ),
        WrongAnswer(
            "the course's owll_helpers.calibration.reliability_bins, imported by name",
            """
from owll_helpers.calibration import reliability_bins as course_bins


def reliability_bins(probs, labels, n_bins=15):
    return course_bins(probs, labels, n_bins)
""",
        ),
    ],
    "expected_calibration_error": [
        WrongAnswer(
            "ECE not weighted by bin size: the plain mean of the gaps of the non-empty bins",
            solution_with("expected_calibration_error", (ECE_SHARE, "share = 1 / filled.sum()")),
        ),
        WrongAnswer(
            "the largest gap (MCE) instead of the weighted mean",
            solution_with("expected_calibration_error", (ECE_RETURN, "return float(np.max(np.abs(hit_rate[filled] - mean_top[filled])))")),
        ),
        WrongAnswer(
            "empty bins not skipped: their NaN makes the sum NaN",
            """
def expected_calibration_error(probs, labels, n_bins=15):
    mean_top, hit_rate, members = reliability_bins(probs, labels, n_bins)
    return float(np.sum(members / members.sum() * np.abs(hit_rate - mean_top)))
""",
        ),
        WrongAnswer(
            "the signed gaps summed, without the absolute value",
            solution_with("expected_calibration_error", (ECE_RETURN, "return float(abs(np.sum(share * (hit_rate[filled] - mean_top[filled]))))")),
        ),
        WrongAnswer(
            "each bin weighted by its size divided by the number of bins instead of by N",
            solution_with("expected_calibration_error", (ECE_SHARE, "share = members[filled] / n_bins")),
        ),
        WrongAnswer(
            "ECE computed on its own, with bins closed on the left, [e[m-1], e[m])",
            """
def expected_calibration_error(probs, labels, n_bins=15):
    table = probs.detach().double().numpy()
    top = table.max(axis=1)
    right = table.argmax(axis=1) == labels.numpy()
    which = np.minimum(np.searchsorted(np.linspace(0, 1, n_bins + 1), top, side="right") - 1, n_bins - 1)
    total = 0.0
    for m in range(n_bins):
        inside = which == m
        if inside.any():
            total += inside.sum() * abs(right[inside].mean() - top[inside].mean())
    return float(total / len(top))
""",
        ),
        WrongAnswer(
            "the course's owll_helpers.calibration.expected_calibration_error, imported by name",
            """
from owll_helpers.calibration import expected_calibration_error as course_ece


def expected_calibration_error(probs, labels, n_bins=15):
    return course_ece(probs, labels, n_bins)
""",
        ),
    ],
    "fit_temperature": [
        WrongAnswer(
            "the logits multiplied by T instead of divided",
            solution_with("fit_temperature", (T_NLL, "return F.cross_entropy(scores * math.exp(log_temperature), label_ids).item()")),
        ),
        WrongAnswer(
            "an unbounded search over log T (Brent without bounds)",
            solution_with("fit_temperature", (T_SEARCH, "search = optimize.minimize_scalar(nll_at_log_temperature)")),
        ),
        WrongAnswer(
            "the wrong interval: T in [0.1, 10]",
            solution_with(
                "fit_temperature",
                (T_SEARCH, 'search = optimize.minimize_scalar(nll_at_log_temperature, bounds=(math.log(0.1), math.log(10.0)), method="bounded")'),
            ),
        ),
        WrongAnswer(
            "the wrong interval: T in [0.01, 100]",
            solution_with(
                "fit_temperature",
                (T_SEARCH, 'search = optimize.minimize_scalar(nll_at_log_temperature, bounds=(math.log(0.01), math.log(100.0)), method="bounded")'),
            ),
        ),
        WrongAnswer(
            "a coarse grid: 200 equally spaced temperatures in [0.05, 20]",
            """
def fit_temperature(logits, labels):
    grid = np.linspace(0.05, 20.0, 200)
    losses = [F.cross_entropy(logits.double() / t, labels).item() for t in grid]
    return float(grid[int(np.argmin(losses))])
""",
        ),
        WrongAnswer(
            "100 steps of Adam on log T from T = 1, not converged and not bounded",
            """
def fit_temperature(logits, labels):
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([log_t], lr=0.01)
    for _ in range(100):
        optimizer.zero_grad()
        F.cross_entropy(logits.double() / log_t.exp(), labels).backward()
        optimizer.step()
    return float(log_t.detach().exp())
""",
        ),
        WrongAnswer(
            "a 0-d tensor returned instead of a Python float",
            solution_with("fit_temperature", (T_RETURN, "return torch.tensor(math.exp(search.x))")),
        ),
        WrongAnswer(
            "the course's owll_helpers.calibration.fit_temperature, imported by name",
            """
from owll_helpers.calibration import fit_temperature as course_fit


def fit_temperature(logits, labels):
    return course_fit(logits, labels)
""",
        ),
    ],
    "odin_score": [
        WrongAnswer(
            "the step that lowers the score: x - epsilon * sign(gradient of log max softmax)",
            solution_with("odin_score", (ODIN_STEP, "nudged = x.detach() - epsilon * uphill.sign()")),
        ),
        WrongAnswer(
            "a step up the gradient of the loss -log max softmax (an attack's sign), which lowers the score",
            solution_with("odin_score", (ODIN_GRAD, "(uphill,) = torch.autograd.grad((-log_top).sum(), probe)")),
        ),
        WrongAnswer(
            "the outlier score's sign (pytorch-ood's convention): minus the max softmax",
            solution_with("odin_score", (ODIN_SCORE, "return -torch.softmax(model(nudged) / temperature, dim=1).max(dim=1).values")),
        ),
        WrongAnswer(
            "no temperature in the gradient, only in the score",
            solution_with("odin_score", (ODIN_LOG_TOP, "log_top = torch.log_softmax(model(probe), dim=1).max(dim=1).values")),
        ),
        WrongAnswer(
            "no temperature in the score, only in the gradient",
            solution_with("odin_score", (ODIN_SCORE, "return torch.softmax(model(nudged), dim=1).max(dim=1).values")),
        ),
        WrongAnswer(
            "the gradient of the largest logit instead of the log of the largest softmax probability",
            solution_with("odin_score", (ODIN_LOG_TOP, "log_top = model(probe).max(dim=1).values")),
        ),
        WrongAnswer(
            "a step along the gradient itself instead of its sign",
            solution_with("odin_score", (ODIN_STEP, "nudged = x.detach() + epsilon * uphill")),
        ),
        WrongAnswer(
            "epsilon ignored: the score of the unperturbed input",
            solution_with("odin_score", (ODIN_STEP, "nudged = x.detach()")),
        ),
        WrongAnswer(
            "the model used in the mode it was given (dropout active in training mode)",
            solution_with("odin_score", (ODIN_EVAL, "    mode_on_entry = model.training\n")),
        ),
        WrongAnswer(
            "the model left in evaluation mode",
            solution_with("odin_score", (ODIN_RESTORE, "    finally:\n        pass")),
        ),
        WrongAnswer(
            "the gradient taken with backward(), which fills the parameters' .grad",
            solution_with("odin_score", (ODIN_GRAD, "log_top.sum().backward()\n            uphill = probe.grad")),
        ),
        WrongAnswer(
            "the gradient not switched on: fails when called under torch.no_grad()",
            solution_with(
                "odin_score",
                ("        with torch.set_grad_enabled(True):  # also when the caller runs under torch.no_grad()\n", "        if True:\n"),
            ),
        ),
        WrongAnswer(
            "x modified in place by the step",
            solution_with("odin_score", (ODIN_STEP, "nudged = x.detach()\n            nudged += epsilon * uphill.sign()")),
        ),
        WrongAnswer(
            "the scores returned with a graph (not detached)",
            solution_with(
                "odin_score",
                ("        with torch.no_grad():\n            nudged", "        if True:\n            nudged"),
            ),
        ),
        WrongAnswer(
            "the course's owll_helpers.scores.odin_score, imported by name",
            """
from owll_helpers.scores import odin_score as course_odin


def odin_score(model, x, temperature=1000.0, epsilon=0.0014):
    return course_odin(model, x, temperature, epsilon)
""",
        ),
    ],
    "entropic_open_set_loss": [
        WrongAnswer(
            "the unknowns' term summed over the classes instead of averaged",
            solution_with("entropic_open_set_loss", (EOS_UNKNOWN, "per_input = torch.where(is_unknown, -log_p.sum(dim=1), known_part)")),
        ),
        WrongAnswer(
            "KL to the uniform distribution (the cross entropy minus log K) for the unknowns",
            solution_with(
                "entropic_open_set_loss",
                (EOS_UNKNOWN, "per_input = torch.where(is_unknown, -log_p.mean(dim=1) - math.log(logits.shape[1]), known_part)"),
            ),
        ),
        WrongAnswer(
            "the unknowns ignored: cross entropy with ignore_index=-1",
            """
def entropic_open_set_loss(logits, targets, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction)
    return F.cross_entropy(logits, targets, ignore_index=-1, reduction=reduction)
""",
        ),
        WrongAnswer(
            "the mean over the knowns plus the mean over the unknowns instead of the mean over all inputs",
            solution_with(
                "entropic_open_set_loss",
                (EOS_REDUCE, '    if reduction == "none":  # one value per input\n        return per_input\n'
                             '    if reduction == "mean":\n'
                             "        return per_input[~is_unknown].mean() + per_input[is_unknown].mean()\n"
                             "    return per_input.sum()"),
            ),
        ),
        WrongAnswer(
            "reduction ignored: always the mean",
            solution_with("entropic_open_set_loss", (EOS_REDUCE, "    return per_input.mean()")),
        ),
        WrongAnswer(
            "any other reduction treated as the mean instead of raising ValueError",
            solution_with("entropic_open_set_loss", (EOS_CHECK, "")),
        ),
        WrongAnswer(
            "minus the log of the mean softmax probability for the unknowns (the constant log K)",
            solution_with(
                "entropic_open_set_loss",
                (EOS_UNKNOWN, "per_input = torch.where(is_unknown, -torch.log(log_p.exp().mean(dim=1)), known_part)"),
            ),
        ),
        WrongAnswer(
            "minus the log of the largest softmax probability for the unknowns",
            solution_with("entropic_open_set_loss", (EOS_UNKNOWN, "per_input = torch.where(is_unknown, -log_p.max(dim=1).values, known_part)")),
        ),
        WrongAnswer(
            "the log of a softmax computed in two steps, -inf where a probability underflows",
            solution_with("entropic_open_set_loss", (EOS_LOG_P, "log_p = torch.log(torch.softmax(logits, dim=1))")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the course's owll_helpers.losses.uniform_cross_entropy for the unknowns, imported by name",
            """
from owll_helpers.losses import uniform_cross_entropy


def entropic_open_set_loss(logits, targets, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction)
    unknown = targets == -1
    known = F.cross_entropy(logits, targets.clamp(min=0), reduction="none")
    per_input = torch.where(unknown, uniform_cross_entropy(logits, reduction="none"), known)
    return {"none": per_input, "mean": per_input.mean(), "sum": per_input.sum()}[reduction]
""",
        ),
    ],
    "objectosphere_loss": [
        WrongAnswer(
            "the feature terms without the square",
            solution_with("objectosphere_loss", (OBJ_PENALTY, "shell_penalty = torch.where(is_unknown, magnitude, torch.relu(xi - magnitude))")),
        ),
        WrongAnswer(
            "the margin applied to the unknowns: max(||F|| - xi, 0)^2",
            solution_with(
                "objectosphere_loss",
                (OBJ_PENALTY, "shell_penalty = torch.where(is_unknown, torch.relu(magnitude - xi) ** 2, torch.relu(xi - magnitude) ** 2)"),
            ),
        ),
        WrongAnswer(
            "the knowns' margin term for the unknowns too: max(xi - ||F||, 0)^2 for every input",
            solution_with("objectosphere_loss", (OBJ_PENALTY, "shell_penalty = torch.relu(xi - magnitude) ** 2")),
        ),
        WrongAnswer(
            "the squared norm in the knowns' margin: max(xi - ||F||^2, 0)^2",
            solution_with(
                "objectosphere_loss",
                (OBJ_PENALTY, "shell_penalty = torch.where(is_unknown, magnitude**2, torch.relu(xi - magnitude**2) ** 2)"),
            ),
        ),
        WrongAnswer(
            "knowns and unknowns swapped",
            solution_with("objectosphere_loss", (OBJ_PENALTY, "shell_penalty = torch.where(~is_unknown, magnitude**2, torch.relu(xi - magnitude) ** 2)")),
        ),
        WrongAnswer(
            "the knowns' term without the max: (xi - ||F||)^2 also for features longer than xi",
            solution_with("objectosphere_loss", (OBJ_PENALTY, "shell_penalty = torch.where(is_unknown, magnitude**2, (xi - magnitude) ** 2)")),
        ),
        WrongAnswer(
            "alpha ignored",
            solution_with("objectosphere_loss", (OBJ_TOTAL, "per_input = entropic_part + shell_penalty")),
        ),
        WrongAnswer(
            "alpha multiplying the whole loss instead of the feature term",
            solution_with("objectosphere_loss", (OBJ_TOTAL, "per_input = alpha * (entropic_part + shell_penalty)")),
        ),
        WrongAnswer(
            "xi ignored: a margin of 1",
            solution_with("objectosphere_loss", (OBJ_PENALTY, "shell_penalty = torch.where(is_unknown, magnitude**2, torch.relu(1.0 - magnitude) ** 2)")),
        ),
        WrongAnswer(
            "the L1 norm of the features instead of the Euclidean norm",
            solution_with("objectosphere_loss", (OBJ_NORM, "magnitude = features.abs().sum(dim=1)")),
        ),
        WrongAnswer(
            "reduction ignored: always the mean",
            solution_with("objectosphere_loss", (OBJ_REDUCE, "    return per_input.mean()")),
        ),
        WrongAnswer(
            "Task 5's entropic_open_set_loss called (the task must be graded on its own)",
            """
def objectosphere_loss(logits, features, targets, xi=1.0, alpha=1.0, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction)
    lengths = features.norm(dim=1)
    extra = torch.where(targets == -1, lengths**2, torch.clamp(xi - lengths, min=0) ** 2)
    per_input = entropic_open_set_loss(logits, targets, reduction="none") + alpha * extra
    return {"none": per_input, "mean": per_input.mean(), "sum": per_input.sum()}[reduction]
""",
        ),
        WrongAnswer(
            "the course's owll_helpers.losses.objectosphere_loss, imported by name",
            """
from owll_helpers.losses import objectosphere_loss as course_objectosphere


def objectosphere_loss(logits, features, targets, xi=1.0, alpha=1.0, reduction="mean"):
    return course_objectosphere(logits, features, targets, xi, alpha, reduction)
""",
        ),
    ],
}
