"""Wrong answers to assignment 5 (extreme values and OpenMax).

Most are the solution with one part swapped for a typical mistake
(:func:`solution_with`), so that each differs from a right answer in exactly
what its description says.
"""

from tests.grading import SOLUTIONS
from tests.wrong_answers import WrongAnswer, solution_editor

solution_with = solution_editor(SOLUTIONS / "ch05_evt_openmax" / "ch05_evt_openmax.ipynb")

MAV_RIGHT = "right = logits.argmax(dim=1) == labels"
MAV_CHOSEN = "chosen = right & (labels == k)"
MAV_CHECK = (
    "        if not bool(chosen.any()):\n"
    '            raise ValueError(f"class {k} has no correctly classified input, so it has no mean activation vector")\n'
)
FIT_ORDERED = "ordered = np.sort(distances.detach().cpu().double().numpy())"
FIT_CHECK = (
    "    if tailsize > ordered.size:\n"
    '        raise ValueError(f"tailsize {tailsize} exceeds the {ordered.size} distances given: fewer samples than the tail")\n'
)
FIT_TAIL = "extremes = ordered[ordered.size - tailsize:]"
FIT_CALL = "kappa, _, lam = weibull_min.fit(extremes + translate - lowest, floc=0)"
FIT_RETURN = "return float(kappa), float(lam), lowest, float(translate)"
CDF_POINTS = "points = distances.detach().cpu().double().numpy()"
CDF_MOVED = "moved = points + shift - lowest"
CDF_RISING = "rising = 1.0 - np.exp(-((np.maximum(moved, 0.0) / lam) ** kappa))"
CDF_RETURN = "return np.where(moved > 0, rising, 0.0)"
OM_CHECK = (
    "    if alpha > n_known:\n"
    '        raise ValueError(f"alpha ({alpha}) cannot exceed the number of classes ({n_known})")\n'
)
OM_ACT = "act = logits.detach().cpu().double().numpy()"
OM_GAPS = "gaps = np.sqrt(((act[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))"
OM_MOVED = "moved = gaps[:, k] + float(shift) - float(lowest)"
OM_RISING = "rising = 1.0 - np.exp(-((np.maximum(moved, 0.0) / float(lam)) ** float(kappa)))"
OM_WHERE = "outlier_prob[:, k] = np.where(moved > 0, rising, 0.0)"
OM_ORDER = 'order = np.argsort(-act, axis=1, kind="stable")'
OM_RANK = "np.put_along_axis(strength, order[:, i - 1 : i], (alpha + 1 - i) / alpha, axis=1)"
OM_RANGE = "for i in range(1, alpha + 1):"
OM_RETURN = "return torch.softmax(torch.from_numpy(extended), dim=1).to(logits.dtype)"
MA_FEATS = "feats = train_features.detach().double()"
MA_QUERIES = "queries = test_features.detach().double()"
MA_CENTRES = "centres = torch.stack([feats[train_labels == k].mean(dim=0) for k in range(n_classes)])"
MA_POOLED = "pooled = residuals.T @ residuals / feats.shape[0]"
MA_INVERSE = "pooled_inverse = torch.linalg.pinv(pooled, hermitian=True)"
MA_RETURN = "return -squared.min(dim=1).values"
RE_AREA = "area = float(area_under_roc(is_known, np.concatenate([inside, outside]).astype(np.float64)))"
RE_NEEDED = "needed = (95 * inside.size + 99) // 100"
RE_STRICTEST = "strictest = np.sort(inside)[::-1][needed - 1]"
RE_FALSE = "false_alarms = float(np.mean(outside >= strictest))"
RE_RIGHT = "right_answers = int(np.sum((inside >= threshold) & classified_right)) + int(np.sum(outside < threshold))"
RE_ACCURACY = '"open_set_accuracy": right_answers / (inside.size + outside.size),'

WRONG_ANSWERS = {
    "mean_activation_vectors": [
        WrongAnswer(
            "MAVs from all training inputs of each class, misclassified ones included (as pytorch-ood does)",
            solution_with("mean_activation_vectors", (MAV_CHOSEN, "chosen = labels == k")),
        ),
        WrongAnswer(
            "inputs grouped by their prediction instead of their label",
            solution_with("mean_activation_vectors", (MAV_CHOSEN, "chosen = logits.argmax(dim=1) == k")),
        ),
        WrongAnswer(
            "the last of tied logits taken as the prediction",
            solution_with(
                "mean_activation_vectors",
                (MAV_RIGHT, "right = (logits.shape[1] - 1 - logits.flip(dims=[1]).argmax(dim=1)) == labels"),
            ),
        ),
        WrongAnswer(
            "no ValueError: a class without a correct input gets a row of NaN",
            solution_with("mean_activation_vectors", (MAV_CHECK, "")),
        ),
        WrongAnswer(
            "the course's owll_helpers.evt.mean_activation_vectors, imported by name",
            """
from owll_helpers.evt import mean_activation_vectors as course_mavs


def mean_activation_vectors(logits, labels):
    return course_mavs(logits, labels)
""",
        ),
    ],
    "fit_high": [
        WrongAnswer(
            "the smallest distances as the tail",
            solution_with("fit_high", (FIT_TAIL, "extremes = ordered[:tailsize]")),
        ),
        WrongAnswer(
            "all distances fitted instead of the tail",
            solution_with("fit_high", (FIT_TAIL, "extremes = ordered")),
        ),
        WrongAnswer(
            "shifted by translate without subtracting the tail's minimum",
            solution_with("fit_high", (FIT_CALL, "kappa, _, lam = weibull_min.fit(extremes + translate, floc=0)")),
        ),
        WrongAnswer(
            "a free location in the Weibull fit",
            solution_with("fit_high", (FIT_CALL, "kappa, _, lam = weibull_min.fit(extremes + translate - lowest)")),
        ),
        WrongAnswer(
            "shape and scale returned in the wrong order",
            solution_with("fit_high", (FIT_RETURN, "return float(lam), float(kappa), lowest, float(translate)")),
        ),
        WrongAnswer(
            "no ValueError for a tail larger than the data: the tail silently shorter",
            solution_with("fit_high", (FIT_CHECK, ""), (FIT_TAIL, "extremes = ordered[max(ordered.size - tailsize, 0):]")),
        ),
        WrongAnswer(
            "the shift computed in float32 for float32 distances",
            solution_with("fit_high", (FIT_ORDERED, "ordered = np.sort(distances.detach().cpu().numpy())")),
        ),
        WrongAnswer(
            "the course's owll_helpers.evt.fit_high, imported by name",
            """
from owll_helpers.evt import fit_high as course_fit_high


def fit_high(distances, tailsize, translate):
    return tuple(float(p) for p in course_fit_high(distances, tailsize, translate))
""",
        ),
    ],
    "weibull_cdf": [
        WrongAnswer(
            "the survival function exp(-(x / scale) ** shape) instead of the CDF",
            solution_with("weibull_cdf", (CDF_RISING, "rising = np.exp(-((np.maximum(moved, 0.0) / lam) ** kappa))")),
        ),
        WrongAnswer(
            "shifted by translate without subtracting the tail's minimum",
            solution_with("weibull_cdf", (CDF_MOVED, "moved = points + shift")),
        ),
        WrongAnswer(
            "shifted by the tail's minimum without adding translate",
            solution_with("weibull_cdf", (CDF_MOVED, "moved = points - lowest")),
        ),
        WrongAnswer(
            "CDF 0 not applied where the shifted distance is <= 0 (a negative number to a non-integer power: NaN)",
            solution_with(
                "weibull_cdf",
                (CDF_RISING, "rising = 1.0 - np.exp(-((moved / lam) ** kappa))"),
                (CDF_RETURN, "return rising"),
            ),
        ),
        WrongAnswer(
            "the shift computed in float32 for float32 distances",
            solution_with("weibull_cdf", (CDF_POINTS, "points = distances.detach().cpu().numpy()")),
        ),
        WrongAnswer(
            "the course's owll_helpers.evt.weibull_cdf, imported by name",
            """
from owll_helpers.evt import weibull_cdf as course_cdf


def weibull_cdf(distances, params):
    return course_cdf(distances, params)
""",
        ),
    ],
    "openmax_probabilities": [
        WrongAnswer(
            "the survival function instead of the CDF (the paper's printed form)",
            solution_with(
                "openmax_probabilities",
                (OM_RISING, "rising = np.exp(-((np.maximum(moved, 0.0) / float(lam)) ** float(kappa)))"),
            ),
        ),
        WrongAnswer(
            "weights (alpha - i) / alpha (the paper's printed factor)",
            solution_with("openmax_probabilities", (OM_RANK, "np.put_along_axis(strength, order[:, i - 1 : i], (alpha - i) / alpha, axis=1)")),
        ),
        WrongAnswer(
            "the unknown activation left out of the softmax: the softmax over the recalibrated activations, unknown 0",
            solution_with(
                "openmax_probabilities",
                (
                    OM_RETURN,
                    "known_part = torch.softmax(torch.from_numpy(act * kept_share), dim=1)\n"
                    "    return torch.cat([known_part, torch.zeros(len(act), 1, dtype=known_part.dtype)], dim=1).to(logits.dtype)",
                ),
            ),
        ),
        WrongAnswer(
            "ranks from an ascending sort reversed: among tied activations the higher index ranks first",
            solution_with("openmax_probabilities", (OM_ORDER, 'order = np.argsort(act, axis=1, kind="stable")[:, ::-1]')),
        ),
        WrongAnswer(
            "every class recalibrated by its rank, not only the alpha top-ranked ones",
            solution_with(
                "openmax_probabilities",
                (OM_RANGE, "for i in range(1, n_known + 1):"),
                (OM_RANK, "np.put_along_axis(strength, order[:, i - 1 : i], max(alpha + 1 - i, 1) / alpha, axis=1)"),
            ),
        ),
        WrongAnswer(
            "the squared Euclidean distance to the MAVs",
            solution_with("openmax_probabilities", (OM_GAPS, "gaps = ((act[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)")),
        ),
        WrongAnswer(
            "every class's CDF taken at the distance to the top class's MAV",
            solution_with(
                "openmax_probabilities",
                (OM_MOVED, "moved = gaps[np.arange(len(act)), act.argmax(axis=1)] + float(shift) - float(lowest)"),
            ),
        ),
        WrongAnswer(
            "CDF 0 not applied where the shifted distance is <= 0",
            solution_with(
                "openmax_probabilities",
                (OM_RISING, "rising = 1.0 - np.exp(-((moved / float(lam)) ** float(kappa)))"),
                (OM_WHERE, "outlier_prob[:, k] = rising"),
            ),
        ),
        WrongAnswer(
            "computed in the logits' dtype: the shift by translate in float32",
            solution_with(
                "openmax_probabilities",
                (OM_ACT, "act = logits.detach().cpu().numpy()"),
                ("centres = mavs.detach().cpu().double().numpy()", "centres = mavs.detach().cpu().numpy()"),
                (OM_MOVED, "moved = gaps[:, k] + np.float32(shift) - np.float32(lowest)"),
            ),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "no ValueError for alpha larger than the number of classes",
            solution_with("openmax_probabilities", (OM_CHECK, "    alpha = min(alpha, n_known)\n")),
        ),
        WrongAnswer(
            "the Task 3 answer weibull_cdf called inside, which the statement forbids",
            solution_with(
                "openmax_probabilities",
                (OM_WHERE, "outlier_prob[:, k] = weibull_cdf(gaps[:, k], (kappa, lam, lowest, shift))"),
            ),
        ),
        WrongAnswer(
            "the course's owll_helpers.evt.openmax_probabilities, imported by name",
            """
from owll_helpers.evt import openmax_probabilities as course_openmax


def openmax_probabilities(logits, mavs, tails, alpha=3):
    return course_openmax(logits, mavs, tails, alpha)
""",
        ),
    ],
    "mahalanobis_score": [
        WrongAnswer(
            "a covariance per class instead of one shared covariance",
            """
def mahalanobis_score(train_features, train_labels, test_features):
    feats, queries = train_features.detach().double(), test_features.detach().double()
    columns = []
    for k in range(int(train_labels.max()) + 1):
        members = feats[train_labels == k]
        centre = members.mean(dim=0)
        own = (members - centre).T @ (members - centre) / len(members)
        offsets = queries - centre
        columns.append(((offsets @ torch.linalg.pinv(own, hermitian=True)) * offsets).sum(dim=1))
    return -torch.stack(columns, dim=1).min(dim=1).values
""",
        ),
        WrongAnswer(
            "the unbiased covariance, divided by N - 1",
            solution_with("mahalanobis_score", (MA_POOLED, "pooled = residuals.T @ residuals / (feats.shape[0] - 1)")),
        ),
        WrongAnswer(
            "the covariance not divided at all (the scatter matrix)",
            solution_with("mahalanobis_score", (MA_POOLED, "pooled = residuals.T @ residuals")),
        ),
        WrongAnswer(
            "the outlier sign: plus the smallest squared distance",
            solution_with("mahalanobis_score", (MA_RETURN, "return squared.min(dim=1).values")),
        ),
        WrongAnswer(
            "a small ridge instead of the pseudo-inverse",
            solution_with(
                "mahalanobis_score",
                (MA_INVERSE, "pooled_inverse = torch.linalg.inv(pooled + 1e-6 * torch.eye(pooled.shape[0], dtype=pooled.dtype))"),
            ),
        ),
        WrongAnswer(
            "the covariance centred on the overall mean instead of each input's class mean",
            solution_with("mahalanobis_score", ("residuals = feats - centres[train_labels]", "residuals = feats - feats.mean(dim=0)")),
        ),
        WrongAnswer(
            "the distance's square root instead of the squared distance",
            solution_with("mahalanobis_score", (MA_RETURN, "return -squared.clamp(min=0).sqrt().min(dim=1).values")),
        ),
        WrongAnswer(
            "the largest distance over the classes instead of the smallest",
            solution_with("mahalanobis_score", (MA_RETURN, "return -squared.max(dim=1).values")),
        ),
        WrongAnswer(
            "computed in float32 for float32 features",
            solution_with(
                "mahalanobis_score",
                (MA_FEATS, "feats = train_features.detach()"),
                (MA_QUERIES, "queries = test_features.detach()"),
            ),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "scikit-learn's EmpiricalCovariance, which the task switches off",
            """
def mahalanobis_score(train_features, train_labels, test_features):
    from sklearn.covariance import EmpiricalCovariance

    feats, queries = train_features.detach().double().numpy(), test_features.detach().double().numpy()
    labels = train_labels.numpy()
    centres = np.stack([feats[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
    model = EmpiricalCovariance(assume_centered=True).fit(feats - centres[labels])
    return torch.from_numpy(-np.min(np.stack([model.mahalanobis(queries - c) for c in centres], axis=1), axis=1))
""",
        ),
        WrongAnswer(
            "the course's owll_helpers.detectors.mahalanobis_score, imported by name",
            """
from owll_helpers.detectors import mahalanobis_score as course_mahalanobis


def mahalanobis_score(train_features, train_labels, test_features):
    return course_mahalanobis(train_features, train_labels, test_features)
""",
        ),
    ],
    "open_set_report": [
        WrongAnswer(
            "a known input counted right when accepted, even if misclassified",
            solution_with(
                "open_set_report",
                (RE_RIGHT, "right_answers = int(np.sum(inside >= threshold)) + int(np.sum(outside < threshold))"),
            ),
        ),
        WrongAnswer(
            "accepted when the score is > threshold instead of >=",
            solution_with(
                "open_set_report",
                (RE_RIGHT, "right_answers = int(np.sum((inside > threshold) & classified_right)) + int(np.sum(outside <= threshold))"),
            ),
        ),
        WrongAnswer(
            "the mean of the two groups' accuracies instead of the pooled share",
            solution_with(
                "open_set_report",
                (
                    RE_ACCURACY,
                    '"open_set_accuracy": float((np.mean((inside >= threshold) & classified_right) + np.mean(outside < threshold)) / 2),',
                ),
            ),
        ),
        WrongAnswer(
            "a rejected misclassified known counted right",
            solution_with(
                "open_set_report",
                (
                    RE_RIGHT,
                    "right_answers = int(np.sum((inside >= threshold) == classified_right)) + int(np.sum(outside < threshold))",
                ),
            ),
        ),
        WrongAnswer(
            "the AUROC with the unknown inputs as the positive class",
            solution_with("open_set_report", (RE_AREA, "area = float(area_under_roc(1 - is_known, np.concatenate([inside, outside]).astype(np.float64)))")),
        ),
        WrongAnswer(
            "FPR95 counting unknowns strictly above the threshold",
            solution_with("open_set_report", (RE_FALSE, "false_alarms = float(np.mean(outside > strictest))")),
        ),
        WrongAnswer(
            "FPR95 at the interpolated 5th percentile of the known scores",
            solution_with("open_set_report", (RE_STRICTEST, "strictest = np.percentile(inside, 5)")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "k = floor(0.95 N) instead of ceil(0.95 N)",
            solution_with("open_set_report", (RE_NEEDED, "needed = max(int(0.95 * inside.size), 1)")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the course's owll_helpers.metrics.open_set_report, imported by name",
            """
from owll_helpers.metrics import open_set_report as course_report


def open_set_report(known_scores, unknown_scores, known_predictions, known_labels, threshold):
    return course_report(known_scores, unknown_scores, known_predictions, known_labels, threshold)
""",
        ),
    ],
}
