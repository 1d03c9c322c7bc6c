"""``python -m nsight_lab`` is the ``nsight-lab`` command."""

from nsight_lab.cli.main import main

main()
