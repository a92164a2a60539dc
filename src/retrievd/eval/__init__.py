"""Retrieval evals: datasets, metrics, the rank-bm25 baseline, the runner and its reports."""
