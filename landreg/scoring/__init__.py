"""Reuse-priority scores: explainable, reproducible, tunable per perspective.

* ``criteria``: the catalogue and the value functions;
* ``profiles``: versioned weightings (three defaults: ministry, investor, housing);
* ``indicators``: raw values from the context layers, computed in PostGIS;
* ``methods``: weighted sum and TOPSIS;
* ``engine``: scoring and storing (full runs and single parcels);
* ``explain``: rankings, explanations, sensitivity.
"""

from __future__ import annotations

from landreg import lazy

_LAZY = {
    **{n: ("landreg.scoring.engine", n) for n in ("recompute", "rescore", "rescore_stale")},
    # (the function explain is landreg.scoring.explain.explain: the package's name is the submodule)
    **{n: ("landreg.scoring.explain", n) for n in ("ranking", "sensitivity")},
    **{
        n: ("landreg.scoring.profiles", n)
        for n in ("ProfileError", "current_profile", "ensure_default_profiles", "save_profile")
    },
}

__all__ = [
    "ProfileError",
    "current_profile",
    "ensure_default_profiles",
    "ranking",
    "recompute",
    "rescore",
    "rescore_stale",
    "save_profile",
    "sensitivity",
]


__getattr__ = lazy.attributes(__name__, _LAZY)
