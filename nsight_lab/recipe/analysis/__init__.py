"""Computations the built-in recipes share, kept apart from any one recipe's glue.

Each module works on Arrow tables or numpy arrays from the trace model and knows
nothing of the recipe engine, so it can be tested and reused on its own.
"""
