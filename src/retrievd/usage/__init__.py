"""Storage accounting: the byte ledger, GB-days, prices, quotas, and the file_search call counter."""

from retrievd.usage.ledger import record_file_search

__all__ = ["record_file_search"]
