"""MAS: operator CLI and the settings shared by every layer."""

__version__ = "0.1.0"
