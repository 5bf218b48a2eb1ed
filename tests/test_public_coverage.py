"""A ranking's coverage is the coverage of the score the caller sees: for the public variant it
counts no confidential criterion, so that it does not tell a parcel without a contamination record
from one recorded as free of contamination (the full score's coverage did: found in review)."""

from __future__ import annotations

import pytest
import shapely

from landreg.scoring import ensure_default_profiles, recompute
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, record, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
PROFILE = "ministerium-revitalisierung"


def test_the_public_ranking_shows_the_public_variants_coverage(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    record(
        committed_db,
        *[
            {
                "local_ref": ref,
                "category": "brachflaeche",
                "publication_allowed": True,
                "contamination": contamination,
                "owner_willing": "ja",
                "geom": shapely.box(X0 + dx, Y0, X0 + dx + 60, Y0 + 50),
            }
            for ref, contamination, dx in (("MIT-AKTE", "keine_bekannt", 0), ("OHNE-AKTE", None, 200))
        ],
    )
    recompute(committed_db, "test")
    ministry = bearers(committed_db, ministry=("ministerium", "ministry"))["ministry"]
    with app_client(committed_db) as client:
        public = {r["local_ref"]: r for r in client.get(f"/profiles/{PROFILE}/ranking").json()["parcels"]}
        full = {
            r["local_ref"]: r for r in client.get(f"/profiles/{PROFILE}/ranking", headers=ministry).json()["parcels"]
        }
        explained = {
            ref: client.get(f"/profiles/{PROFILE}/parcels/{row['parcel_id']}/explanation").json()
            for ref, row in public.items()
        }
    assert set(public) == {"MIT-AKTE", "OHNE-AKTE"}
    # the full score's coverage tells them apart; the ministry may see that
    assert full["MIT-AKTE"]["coverage"] > full["OHNE-AKTE"]["coverage"]
    # the public's does not, and is what the public explanation says
    assert public["MIT-AKTE"]["coverage"] == public["OHNE-AKTE"]["coverage"] < full["OHNE-AKTE"]["coverage"]
    for ref, row in public.items():
        assert row["coverage"] == pytest.approx(explained[ref]["coverage"], abs=1e-4)
        assert "contamination" in explained[ref]["withheld"]


def test_scores_stored_before_0040_get_their_public_coverage_from_the_demos_seed(committed_db):
    """The seed (and ``landreg score --missing``) scores parcels whose score lacks the public
    variant's coverage: after the upgrade, the demo's ranking showed ``coverage: null`` until a
    full run."""
    from sqlalchemy import text

    from landreg.scoring import rescore_stale
    from landreg.scoring.unscored import pending

    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    record(committed_db, {"local_ref": "ALT", "category": "brachflaeche", "publication_allowed": True,
                          "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 50)})  # fmt: skip
    recompute(committed_db, "test")
    with app_client(committed_db) as client:
        before = client.get(f"/profiles/{PROFILE}/ranking").json()["parcels"]
    with committed_db.begin() as conn:
        conn.execute(text("UPDATE parcel_score SET public_coverage = NULL"))  # as 0040 left them
        assert pending(conn) == 1
        assert rescore_stale(conn) == 1
    with app_client(committed_db) as client:
        after = client.get(f"/profiles/{PROFILE}/ranking").json()["parcels"]
    assert before[0]["coverage"] is not None and after == before
