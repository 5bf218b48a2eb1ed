"""Names of a package's submodules, imported on first use (PEP 562).

Every command and worker imports the feature source, which imports ``landreg.scoring`` and
``landreg.safeguarding``; importing all their submodules (pandas, the plan readers, GDAL) made each
``landreg`` command start three times slower than it needs to.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def attributes(package: str, names: dict[str, tuple[str, str]]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: name -> (module, attribute), imported when asked for."""

    def __getattr__(name: str) -> object:
        try:
            module, attribute = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attribute)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
