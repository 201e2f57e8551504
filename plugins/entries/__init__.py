"""Beancount entries in tokenbooks' formats, both ways (the ledger adapters).

The importers write these entries; the plugins and reports read them back into the
plain records of ``tokenbooks.plugins.rules.records`` and ``rules.bills``. One module per
kind of entry keeps each format in one place:

    usage       ``custom "usage"`` aggregates of usage events, with provenance
    purchases   credit purchase and refund transactions
    bills       ``custom "provider-bill"`` lines of a provider's cost report
    build       postings, transactions and references shared by the three
"""
