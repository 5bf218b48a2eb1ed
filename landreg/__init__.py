"""landreg – Flächenregister Ruhr.

The domain core: the registry of reusable land (Brachflächen, Baulücken, Gewerbe- und
Industrieflächen) in EPSG:25832, with its embedded PostGIS, import, scoring and safeguarding.
It knows nothing of HTTP or HTML; ``api`` and ``maps`` build on it.
"""

__version__ = "0.1.0"

#: The CRS parcels are stored in: ETRS89 / UTM zone 32N, the official CRS in NRW.
STORAGE_SRID = 25832
#: The CRS the web gets.
WEB_SRID = 4326
