"""Skill scaling laws across LLM families: predict a new model's scores on many benchmarks
from its family, size and tokens.

Two estimation choices of one model (``SkillScalingLaw``): fixed family effects with a Huber
loss (Sloth, Maia Polo et al. 2025) and Gaussian random family effects integrated out (the
latent-variable framework of Cai et al. 2025). The papers' protocol and baselines are
functions here too, so a comparison is one call.
"""

from ._data import ScalingTable, load_sloth_table
from ._law import ComputeOptimal, SkillScalingLaw, SkillScalingSummary, SkillSolution
from ._plot import plot_predictions, plot_skill_trajectories
from ._protocol import (
    BENCHMARKS_V1,
    BENCHMARKS_V2,
    GUESSING_FLOORS,
    TEST_GROUPS,
    FlopsScalingLaw,
    LeaveFamilyOutResult,
    PCAFlopsScalingLaw,
    ScalingComparison,
    SizeTokensScalingLaw,
    leave_family_out,
    log_flops,
    paper_baselines,
    split_family_groups,
    translog_features,
)
from ._random import (
    RandomEffectsFit,
    add_families_random_effects,
    fit_random_effects,
    predict_interval_random_effects,
    predict_random_effects,
)

__all__ = [
    "BENCHMARKS_V1",
    "BENCHMARKS_V2",
    "GUESSING_FLOORS",
    "TEST_GROUPS",
    "ComputeOptimal",
    "FlopsScalingLaw",
    "LeaveFamilyOutResult",
    "PCAFlopsScalingLaw",
    "RandomEffectsFit",
    "add_families_random_effects",
    "fit_random_effects",
    "predict_interval_random_effects",
    "predict_random_effects",
    "ScalingComparison",
    "ScalingTable",
    "SizeTokensScalingLaw",
    "SkillScalingLaw",
    "SkillScalingSummary",
    "SkillSolution",
    "leave_family_out",
    "load_sloth_table",
    "log_flops",
    "paper_baselines",
    "plot_predictions",
    "plot_skill_trajectories",
    "split_family_groups",
    "translog_features",
]
