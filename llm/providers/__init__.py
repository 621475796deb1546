"""Provider adapters: one module per backend type in models.yaml; the interface is in ``base``."""
