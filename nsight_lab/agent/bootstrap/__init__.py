"""Holds ``sitecustomize.py``; this folder itself goes on the profiled process's path."""
