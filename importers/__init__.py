"""beangulp importers, one module per source format.

``IMPORTERS`` lists the importers that need no settings, ready for a beangulp
``import.py`` (``beangulp.Ingest(IMPORTERS)``); ``tokenbooks import`` builds its full list,
with the contracts and the importer settings, in ``tokenbooks.scripts.import_cmd``.
"""

from .anthropic_costs import AnthropicCostsImporter
from .openai_cost_export import OpenAICostExportImporter
from .openai_costs import OpenAICostsImporter
from .openrouter_activity import OpenRouterActivityImporter

IMPORTERS = [
    # Provider cost reports -> provider bill lines (booked by tokenbooks.plugins.cogs).
    OpenAICostsImporter(),
    AnthropicCostsImporter(),
    OpenAICostExportImporter(),  # the dashboard's cost export (CSV/TSV)
    OpenRouterActivityImporter(),
]
