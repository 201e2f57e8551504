"""tokenbooks: plain-text books, on Beancount, for AI products that bill by usage.

The installed names live under this namespace: ``tokenbooks.plugins`` (Beancount plugins
and the pure accounting rules in ``tokenbooks.plugins.rules``), ``tokenbooks.importers``
(beangulp importers), ``tokenbooks.scripts`` (the ``tokenbooks`` command) and
``tokenbooks.contracts`` (the JSON Schema of the contract YAML).
"""

__version__ = "0.1.0"

# Run from a checkout (python -m tokenbooks..., spark-submit scripts/..., a test), this
# folder is found before the installed package, and holds none of the subpackages: they
# are the folders beside it (pyproject.toml maps plugins/, importers/, scripts/ and
# contracts/ onto tokenbooks.*). Look for them there too; an installed tokenbooks has
# them inside and no pyproject.toml beside it, and is left as it is.
from pathlib import Path as _Path

_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "plugins" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # noqa: F821 - a package's __path__
del _Path, _checkout
