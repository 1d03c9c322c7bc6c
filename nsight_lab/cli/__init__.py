"""The ``nsight-lab`` command line."""
