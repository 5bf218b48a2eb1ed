"""Reuse-priority scores: explainable, reproducible, tunable per perspective.

* ``criteria``: the catalogue and the value functions;
* ``profiles``: versioned weightings (three defaults: ministry, investor, housing);
* ``indicators``: raw values from the context layers, computed in PostGIS;
* ``methods``: weighted sum and TOPSIS;
* ``engine``: scoring and storing (full runs and single parcels);
* ``explain``: rankings, explanations, sensitivity.
"""

from landreg.scoring.engine import recompute, rescore, rescore_stale
from landreg.scoring.explain import explain, ranking, sensitivity
from landreg.scoring.profiles import ProfileError, current_profile, ensure_default_profiles, save_profile

__all__ = [
    "ProfileError",
    "current_profile",
    "ensure_default_profiles",
    "explain",
    "ranking",
    "recompute",
    "rescore",
    "rescore_stale",
    "save_profile",
    "sensitivity",
]
