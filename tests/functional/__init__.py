"""Handlers run as Lambda runs them, against moto in-process, with real-shaped events."""
