"""BI: the four topics landed in DuckDB exactly once, modelled by dbt into the contract's marts
(CONTRACTS.md, "BI marts"), reconciled with the event store, and charted (docs/bi.md).

An adapter like the others: it reads the topics (gcp_adapters.bi.ingest), never GCP's store,
except for the reconciliation, which asks the application for the certificates' balances.
"""
