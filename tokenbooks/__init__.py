"""tokenbooks: plain-text books, on Beancount, for AI products that bill by usage.

The installed names live under this namespace: ``tokenbooks.plugins`` (Beancount plugins
and the pure accounting rules in ``tokenbooks.plugins.rules``), ``tokenbooks.importers``
(beangulp importers), ``tokenbooks.scripts`` (the ``tokenbooks`` command) and
``tokenbooks.contracts`` (the JSON Schema of the contract YAML).
"""

__version__ = "0.1.0"
