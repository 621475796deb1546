"""Typed request and response models of the HTTP contract (API.md)."""
