"""beangulp importers, one module per source format.

``IMPORTERS`` lists an instance of each importer that ``tokenbooks import`` tries on a
source (and that a beangulp ``import.py`` can pass to ``beangulp.Ingest``).
"""

from .anthropic_costs import AnthropicCostsImporter
from .openai_costs import OpenAICostsImporter

IMPORTERS = [
    # Provider cost reports -> provider bill lines (booked by tokenbooks.plugins.cogs).
    OpenAICostsImporter(),
    AnthropicCostsImporter(),
]
