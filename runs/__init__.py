"""Executing runs: the async-run worker (and the executor that runs the agent graph for every run mode)."""
