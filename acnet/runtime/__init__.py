"""Thin runtime: numpy in, labels out. Never imports torch."""
