"""The aggregation methods, on a matrix of normalised values (rows: parcels, columns: criteria).

Values are in [0, 1] with 1 best; NaN means "not available" for that parcel, and the remaining
weights are used as they are (the *coverage* says how much of the profile's weight that is).
Both methods return scores from 0 to 100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def coverage(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return (~np.isnan(values) * weights).sum(axis=1)


def weighted_sum(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """100 × Σ wᵢ·vᵢ / Σ wᵢ over the criteria available for the parcel."""
    covered = coverage(values, weights)
    total = np.nansum(values * weights, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(covered > 0, 100 * total / covered, np.nan)


@dataclass(frozen=True)
class TopsisReference:
    """What TOPSIS compares against: column norms and the weighted ideal and anti-ideal points."""

    norms: np.ndarray
    ideal: np.ndarray
    anti_ideal: np.ndarray

    def to_json(self) -> dict:
        return {
            k: [None if np.isnan(x) else float(x) for x in getattr(self, k)] for k in ("norms", "ideal", "anti_ideal")
        }

    @classmethod
    def from_json(cls, data: dict) -> TopsisReference:
        return cls(
            *(
                np.array([np.nan if x is None else x for x in data[k]], dtype=float)
                for k in ("norms", "ideal", "anti_ideal")
            )
        )

    @classmethod
    def of(cls, values: np.ndarray, weights: np.ndarray) -> TopsisReference:
        norms = np.sqrt(np.nansum(values**2, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            weighted = weights * values / norms
        with np.errstate(all="ignore"):
            ideal = np.where(norms > 0, np.nanmax(np.where(np.isnan(weighted), -np.inf, weighted), axis=0), np.nan)
            anti = np.where(norms > 0, np.nanmin(np.where(np.isnan(weighted), np.inf, weighted), axis=0), np.nan)
        return cls(norms, ideal, anti)


def topsis(values: np.ndarray, weights: np.ndarray, reference: TopsisReference | None = None) -> np.ndarray:
    """Closeness to the ideal (Hwang & Yoon): 100 × d⁻ / (d⁺ + d⁻), vector-normalised, weighted.

    With ``reference`` (from a full run) single parcels are scored against the same ideals.
    """
    ref = reference or TopsisReference.of(values, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = weights * values / ref.norms
    d_plus = np.sqrt(np.nansum((weighted - ref.ideal) ** 2, axis=1))
    d_minus = np.sqrt(np.nansum((weighted - ref.anti_ideal) ** 2, axis=1))
    covered = coverage(values, weights) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        closeness = np.where(d_plus + d_minus > 0, d_minus / (d_plus + d_minus), 1.0)
    return np.where(covered, 100 * closeness, np.nan)
