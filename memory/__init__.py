"""Conversation window, long-term index, vector store and embeddings, each behind one interface."""
