"""The services in one process, for a laptop: ``nsight-lab up`` and ``nsight-lab demo``.

This is the only place in ``nsight_lab`` that imports ``services/`` (DESIGN.md: the
CLI is the top floor and composes the embedded stack). Each service is mounted under
the same prefix a cluster's gateway gives it, so clients cannot tell the difference.
"""
