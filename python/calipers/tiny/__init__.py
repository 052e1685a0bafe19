"""Efficient evaluation: estimate full-benchmark scores from a few anchor items (tinyBenchmarks),
and choose which models to re-run on a new benchmark version (LiveXiv).

tinyBenchmarks (Maia Polo et al. 2024)
--------------------------------------
A benchmark's items are grouped into scenarios (ARC, MMLU, ...) and optionally sub-scenarios
(MMLU subjects). Balance weights ``bw_i = N_s / (n_sub · n_j)`` make the plain mean of
``bw_i · y_i`` over a scenario equal to the macro-average over its sub-scenarios, the number
its maintainers report. For a budget of ``n`` anchor items per scenario:

* anchors are chosen by stratified random sampling over sub-scenarios (``"random"``), k-means
  clustering of the items' correctness vectors over training models (``"correctness"``),
  k-means on IRT item embeddings ``(a_i, b_i)`` (``"irt"``, the method of the released tiny
  benchmarks), or a D-optimal design that maximises the Fisher information about the training
  models' abilities (``"fisher"``). A clustering anchor is the member item nearest its cluster
  centre and weighs its cluster's share of the balance weights;
* estimators of a new model's scenario score from its anchor responses ``y_i``:
  naive ``Σ w_i y_i``; p-IRT ``λ̂ · mean_{Î}(bw_i y_i) + (1 - λ̂) · mean_{I∖Î}(bw_i p̂_i(θ̂))``
  with ``λ̂ = n / N``; gp-IRT ``λ · naive + (1 - λ) · p-IRT`` with
  ``λ = b² / (b² + v / (c n))``, ``b`` the validation error of p-IRT, ``v`` the mean
  across-item variance of the scores, ``c = 4`` for clustered anchors and 1 otherwise.

:class:`TinyBenchmark` runs the whole workflow (IRT dimension chosen on validation models,
anchors, λ, cross-validated errors) and saves it to a documented JSON file.

LiveXiv (Shabtay et al. 2025)
-----------------------------
:class:`ReEvaluation` fits an IRT model to earlier benchmark versions, chooses the ``m``
models to re-run on a new version by Fisher information (for ``m`` anchor difficulties at the
5th..95th percentiles, the model whose ability is most informative), fits the joint model with
the new version's observed cells and predicts the others' new-version scores.
"""

from __future__ import annotations

from .anchors import METHODS as METHODS  # the constants and Literal types, as before the split
from .anchors import AnchorSet, kmeans_anchors, select_anchors
from .anchors import Method as Method
from .benchmark import TinyBenchmark, TinyEstimate
from .estimators import ESTIMATORS as ESTIMATORS
from .estimators import Estimator as Estimator
from .estimators import (
    balance_weights,
    gpirt_estimate,
    gpirt_lambda,
    naive_estimate,
    pirt_estimate,
)
from .livexiv import ReEvaluation, ReEvaluationResult, choose_models_to_rerun

__all__ = [
    "AnchorSet",
    "ReEvaluation",
    "ReEvaluationResult",
    "TinyBenchmark",
    "TinyEstimate",
    "balance_weights",
    "choose_models_to_rerun",
    "gpirt_estimate",
    "gpirt_lambda",
    "kmeans_anchors",
    "naive_estimate",
    "pirt_estimate",
    "select_anchors",
]
