"""What the service tells its operators: ``mas_`` metrics, Langfuse traces, and per-run log lines (no Ray import)."""
