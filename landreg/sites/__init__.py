"""The public's tools for finding sites: search, exposé and comparison.

Every read here goes through the public view (:data:`landreg.access.PUBLIC`): only parcels
published now and not retired, only their public fields, the public variant of the score.

* ``search``: :class:`SiteQuery` (the search's state, parsed from and written back to a URL) and
  :func:`search_sites`, one page of offered public sites;
* ``expose``: everything the exposé of one site shows;
* ``compare``: 2–4 sites side by side;
* ``contacts``: the economic development office of each municipality;
* ``changes``: when a site's public facts last changed (alert feeds, the open data's Datenstand).
"""

from landreg.sites.search import SiteQuery, SiteQueryError, search_sites

__all__ = ["SiteQuery", "SiteQueryError", "search_sites"]
