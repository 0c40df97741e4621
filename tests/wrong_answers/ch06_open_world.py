"""Wrong answers to assignment 6 (the open-world loop).

Most are the solution with one part swapped for a typical mistake
(:func:`solution_with`), so that each differs from a right answer in exactly
what its description says.
"""

from tests.grading import SOLUTIONS
from tests.wrong_answers import WrongAnswer, solution_editor

solution_with = solution_editor(SOLUTIONS / "ch06_open_world" / "ch06_open_world.ipynb")

NCM_RESET = (
    "        self.classes = torch.empty(0, dtype=torch.int64)\n"
    "        self.means = torch.empty(0, features.shape[1], dtype=torch.float64)\n"
    "        self._sums, self._counts = {}, {}  # per label: the sum and the number of its samples so far\n"
    "        self._seen = torch.empty(0, features.shape[1], dtype=torch.float64)\n"
    "        self._seen_labels = torch.empty(0, dtype=torch.int64)\n"
)
NCM_SUMS = "self._sums[label] = self._sums.get(label, 0.0) + members.sum(dim=0)"
NCM_COUNTS = "self._counts[label] = self._counts.get(label, 0) + members.shape[0]"
NCM_CLASSES = "self.classes = torch.tensor(sorted(self._sums), dtype=torch.int64)"
NCM_GAPS = "gaps = (self._seen - self.means[own]).norm(dim=1)"
NCM_THRESHOLD = "self.threshold = float(torch.quantile(gaps, 0.95))"
NCM_SCORE = "return -(x[:, None, :] - self.means[None, :, :]).norm(dim=2).min(dim=1).values"
NCM_NEAREST = "nearest = (x[:, None, :] - self.means[None, :, :]).norm(dim=2).min(dim=1)"
NCM_REJECT = "return torch.where(nearest.values > self.threshold, torch.full_like(found, -1), found)"
SQ_SORT = "return torch.sort(scores, stable=True).indices[:budget]"
SQ_RANDOM = "return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:budget]"
SQ_CHECK = (
    "    if budget > n:\n"
    '        raise ValueError(f"budget ({budget}) is larger than the pool ({n} samples)")\n'
)
OW_QUERIED = "queried = select_queries(learner.score(pool_features), budget, strategy, seed)"
OW_LABELS = "labels = oracle(queried)"
OW_HELD = "held_before = set(learner.classes.tolist())"
OW_KNOWN = "known = torch.tensor([label in held_before for label in labels.tolist()], dtype=torch.bool)"
OW_UPDATE = "learner.add_classes(pool_features[queried], labels)"
OW_REMAINING = "remaining = unasked.nonzero().flatten()"

WRONG_ANSWERS = {
    "NearestClassMean": [
        WrongAnswer(
            "rejection by the distance to the farthest mean instead of the nearest",
            solution_with(
                "NearestClassMean",
                (
                    NCM_REJECT,
                    "farthest = (x[:, None, :] - self.means[None, :, :]).norm(dim=2).max(dim=1).values\n"
                    "        return torch.where(farthest > self.threshold, torch.full_like(found, -1), found)",
                ),
            ),
        ),
        WrongAnswer(
            "add_classes replaces a held class's mean by the new samples' mean",
            solution_with(
                "NearestClassMean",
                (NCM_SUMS, "self._sums[label] = members.sum(dim=0)"),
                (NCM_COUNTS, "self._counts[label] = members.shape[0]"),
            ),
        ),
        WrongAnswer(
            "add_classes averages the old mean and the new samples' mean, whatever their counts",
            solution_with(
                "NearestClassMean",
                (
                    NCM_SUMS,
                    "old = self._sums[label] / self._counts[label] if label in self._sums else members.mean(dim=0)\n"
                    "            self._sums[label] = (old + members.mean(dim=0)) / 2",
                ),
                (NCM_COUNTS, "self._counts[label] = 1"),
            ),
        ),
        WrongAnswer(
            "a threshold per class (the largest of the per-class quantiles) instead of one over the pooled distances",
            solution_with(
                "NearestClassMean",
                (
                    NCM_THRESHOLD,
                    "self.threshold = float(max(torch.quantile(gaps[self._seen_labels == c], 0.95) for c in self.classes.tolist()))",
                ),
            ),
        ),
        WrongAnswer(
            "the threshold set at the first fit and never recomputed",
            solution_with(
                "NearestClassMean",
                (NCM_THRESHOLD, "if math.isnan(self.threshold):\n            self.threshold = float(torch.quantile(gaps, 0.95))"),
            ),
        ),
        WrongAnswer(
            "the threshold from the newly added samples only",
            solution_with("NearestClassMean", (NCM_GAPS, "gaps = (x - self.means[torch.searchsorted(self.classes, y)]).norm(dim=1)")),
        ),
        WrongAnswer(
            "the 0.05 quantile instead of the 0.95 quantile",
            solution_with("NearestClassMean", (NCM_THRESHOLD, "self.threshold = float(torch.quantile(gaps, 0.05))")),
        ),
        WrongAnswer(
            "the nearest-rank quantile (kthvalue) instead of linear interpolation",
            solution_with(
                "NearestClassMean",
                (NCM_THRESHOLD, "self.threshold = float(gaps.kthvalue(math.ceil(0.95 * len(gaps))).values)"),
            ),
        ),
        WrongAnswer(
            "a distance equal to the threshold rejected (>= instead of >)",
            solution_with(
                "NearestClassMean",
                (NCM_REJECT, "return torch.where(nearest.values >= self.threshold, torch.full_like(found, -1), found)"),
            ),
        ),
        WrongAnswer(
            "the training distances to the nearest mean instead of the own class's mean",
            solution_with(
                "NearestClassMean",
                (NCM_GAPS, "gaps = (self._seen[:, None, :] - self.means[None, :, :]).norm(dim=2).min(dim=1).values"),
            ),
        ),
        WrongAnswer(
            "squared distances throughout (threshold, score and prediction)",
            solution_with(
                "NearestClassMean",
                (NCM_GAPS, "gaps = (self._seen - self.means[own]).pow(2).sum(dim=1)"),
                (NCM_SCORE, "return -(x[:, None, :] - self.means[None, :, :]).pow(2).sum(dim=2).min(dim=1).values"),
                (NCM_NEAREST, "nearest = (x[:, None, :] - self.means[None, :, :]).pow(2).sum(dim=2).min(dim=1)"),
            ),
        ),
        WrongAnswer(
            "the score is the distance itself (larger = more unknown)",
            solution_with("NearestClassMean", (NCM_SCORE, "return (x[:, None, :] - self.means[None, :, :]).norm(dim=2).min(dim=1).values")),
        ),
        WrongAnswer(
            "classes kept in the order they were added, not sorted (ties go to the class added first)",
            solution_with("NearestClassMean", (NCM_CLASSES, "self.classes = torch.tensor(list(self._sums), dtype=torch.int64)")),
        ),
        WrongAnswer(
            "a running mean whose count is never increased: right after one update of a class, wrong after two",
            solution_with(
                "NearestClassMean",
                (
                    NCM_SUMS,
                    "if label in self._sums:  # here _sums holds the running mean\n"
                    "                n = self._counts[label]\n"
                    "                self._sums[label] = (self._sums[label] * n + members.sum(dim=0)) / (n + members.shape[0])\n"
                    "            else:\n"
                    "                self._sums[label] = members.mean(dim=0)",
                ),
                (NCM_COUNTS, "self._counts.setdefault(label, members.shape[0])"),
                (
                    "self.means = torch.stack([self._sums[c] / self._counts[c] for c in self.classes.tolist()])",
                    "self.means = torch.stack([self._sums[c] for c in self.classes.tolist()])",
                ),
            ),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "fit does not forget what a previous fit held",
            solution_with(
                "NearestClassMean",
                (NCM_RESET, '        if not hasattr(self, "_sums"):\n' + "".join("    " + line + "\n" for line in NCM_RESET.splitlines())),
            ),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the course's owll_helpers.open_world.NearestClassMean, imported by name",
            """
from owll_helpers.open_world import NearestClassMean
""",
        ),
        WrongAnswer(
            "a subclass of the course's NearestClassMean",
            """
import owll_helpers.open_world


class NearestClassMean(owll_helpers.open_world.NearestClassMean):
    pass
""",
            caught_by_visible_test=False,
        ),
    ],
    "select_queries": [
        WrongAnswer(
            "queries from the most confident end (the highest scores)",
            solution_with("select_queries", (SQ_SORT, "return torch.sort(scores, descending=True, stable=True).indices[:budget]")),
        ),
        WrongAnswer(
            "an unstable sort: equal scores in any order",
            solution_with("select_queries", (SQ_SORT, "return torch.sort(scores).indices[:budget]")),
        ),
        WrongAnswer(
            "torch.topk of the lowest scores (no order among ties)",
            solution_with("select_queries", (SQ_SORT, "return torch.topk(scores, budget, largest=False).indices")),
        ),
        WrongAnswer(
            "NumPy's default argsort (quicksort, not stable)",
            solution_with(
                "select_queries",
                (SQ_SORT, "import numpy as np\n\n        return torch.from_numpy(np.argsort(scores.numpy()))[:budget]"),
            ),
        ),
        WrongAnswer(
            "random choice that ignores its seed (the global generator)",
            solution_with("select_queries", (SQ_RANDOM, "return torch.randperm(n)[:budget]")),
        ),
        WrongAnswer(
            "random choice with the seed fixed at 0",
            solution_with("select_queries", (SQ_RANDOM, "return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:budget]")),
        ),
        WrongAnswer(
            "random choice returned sorted by index",
            solution_with("select_queries", (SQ_RANDOM, "return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:budget].sort().values")),
        ),
        WrongAnswer(
            "no ValueError for a budget larger than the pool",
            solution_with("select_queries", (SQ_CHECK, "")),
        ),
        WrongAnswer(
            "a budget equal to the pool's size refused (>= instead of >)",
            solution_with("select_queries", (SQ_CHECK, SQ_CHECK.replace("budget > n", "budget >= n"))),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "any strategy other than 'uncertain' treated as 'random'",
            solution_with("select_queries", ('if strategy == "random":', "if True:")),
        ),
        WrongAnswer(
            "the course's owll_helpers.open_world.select_queries, imported by name",
            """
from owll_helpers.open_world import select_queries
""",
        ),
        WrongAnswer(
            "scores sorted as float32, so float64 scores closer than float32's precision tie",
            solution_with("select_queries", (SQ_SORT, "return torch.sort(scores.float(), stable=True).indices[:budget]")),
            caught_by_visible_test=False,
        ),
    ],
    "open_world_round": [
        WrongAnswer(
            "known-class accuracy over all queried samples (that is the all-class accuracy)",
            solution_with("open_world_round", (OW_KNOWN, "known = torch.ones(len(labels), dtype=torch.bool)")),
        ),
        WrongAnswer(
            "known-class accuracy over the samples not rejected (prediction != -1) instead of those of held classes",
            solution_with("open_world_round", (OW_KNOWN, "known = asked != -1")),
        ),
        WrongAnswer(
            "the classes held read after the update",
            solution_with("open_world_round", (OW_UPDATE, OW_UPDATE + "\n    " + OW_HELD + "\n    " + OW_KNOWN)),
        ),
        WrongAnswer(
            "accuracies measured with the predictions after the update",
            solution_with("open_world_round", (OW_UPDATE, OW_UPDATE + "\n    right = learner.predict(pool_features[queried]) == labels")),
        ),
        WrongAnswer(
            "flagged_unknown counted after the update",
            solution_with("open_world_round", ('"flagged_unknown": int((guesses == -1).sum()),', '"flagged_unknown": int((learner.predict(pool_features) == -1).sum()),')),
        ),
        WrongAnswer(
            "new_classes includes the classes already held",
            solution_with("open_world_round", ('"new_classes": sorted(set(labels.tolist()) - held_before),', '"new_classes": sorted(set(labels.tolist())),')),
        ),
        WrongAnswer(
            "classes_held counted before the update",
            solution_with("open_world_round", ('"classes_held": len(learner.classes),', '"classes_held": len(held_before),')),
        ),
        WrongAnswer(
            "the oracle asked about the whole pool",
            solution_with("open_world_round", (OW_LABELS, "labels = oracle(torch.arange(pool_features.shape[0]))[queried]")),
        ),
        WrongAnswer(
            "the oracle asked once per queried index (one call each, where the statement asks for one call)",
            solution_with("open_world_round", (OW_LABELS, "labels = torch.cat([oracle(queried[i : i + 1]) for i in range(len(queried))])")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "labels_spent returned as a 0-d tensor, not a Python int",
            solution_with("open_world_round", ('"labels_spent": len(queried),', '"labels_spent": torch.tensor(len(queried)),')),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the seed not passed on to select_queries",
            solution_with("open_world_round", (OW_QUERIED, "queried = select_queries(learner.score(pool_features), budget, strategy)")),
            caught_by_visible_test=False,
        ),
        WrongAnswer(
            "the pool returned whole, not shrunk",
            solution_with("open_world_round", ('"pool_features": pool_features[remaining],', '"pool_features": pool_features,')),
        ),
        WrongAnswer(
            "remaining in the order of the scores, not sorted",
            solution_with(
                "open_world_round",
                (OW_QUERIED, "scores = learner.score(pool_features)\n    queried = select_queries(scores, budget, strategy, seed)"),
                (OW_REMAINING, "remaining = torch.tensor([i for i in torch.sort(scores, stable=True).indices.tolist() if unasked[i]])"),
            ),
        ),
        WrongAnswer(
            "the course's owll_helpers.open_world.open_world_round, imported by name",
            """
from owll_helpers.open_world import open_world_round
""",
        ),
    ],
}
