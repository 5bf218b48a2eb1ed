"""Web maps of the registry (Folium). A thin adapter over the ``landreg`` core.

The maps themselves (Standortkarte, Prioritätenkarte, Flächensicherungskarte, Gemeindeübersicht)
are built by the maps issue; this package holds them.
"""

# The maps' names, here so that the ``landreg`` command lists them without importing Folium.
MAP_NAMES = ("standortkarte", "prioritaetenkarte", "flaechensicherungskarte", "gemeindeuebersicht")
