"""Agents of the chat graph: pure async Python with typed inputs and outputs, no Ray imports."""
