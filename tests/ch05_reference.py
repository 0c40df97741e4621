"""A NumPy reference of OpenMax's Algorithm 2, as the authors' code runs it (SYLLABUS, Conventions).

The same function, named ``hidden_reference_openmax``, is written inside the
hidden test cell of assignment 5's Task 4 (autograding runs in the course data
folder, where ``tests/`` cannot be imported, and ``owll_helpers`` ships to
students); ``tests/test_ch05_helpers_agree.py`` checks that the two copies are
the same text and that ``owll_helpers.evt.openmax_probabilities`` agrees with it.
"""

from __future__ import annotations

import math

import numpy as np


def reference_openmax(logits, mavs, tails, alpha):
    """Algorithm 2 as the authors' code runs it, written out one input at a time (NumPy, float64)."""
    table = np.asarray(logits, dtype=np.float64)
    anchors = np.asarray(mavs, dtype=np.float64)
    answers = []
    for activation in table:
        count = len(activation)
        ranking = sorted(range(count), key=lambda c: (-activation[c], c))  # among ties the lower index first
        weight = np.ones(count)
        for rank, c in enumerate(ranking[:alpha], start=1):
            shape, scale, tail_min, translate = (float(p) for p in tails[c])
            shifted = float(np.sqrt(np.sum((activation - anchors[c]) ** 2))) + translate - tail_min
            if shifted > 0:
                power = math.exp(min(shape * math.log(shifted / scale), 700.0))
                outlier = 1.0 - math.exp(-power)
            else:
                outlier = 0.0
            weight[c] = 1.0 - (alpha + 1 - rank) / alpha * outlier
        extended = np.append(activation * weight, np.sum(activation * (1.0 - weight)))
        exponentials = np.exp(extended - extended.max())
        answers.append(exponentials / exponentials.sum())
    return np.array(answers)
