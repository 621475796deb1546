"""LLM providers and the routing policy (catalog, fallbacks, retries, limits, cost): pure Python."""
