"""nsight-lab inside Jupyter: the server extension and the prebuilt lab extension.

Jupyter discovers both through the two hooks below. They import nothing heavy, so
``jupyter labextension list`` and server start-up stay fast even when the gateway
client's dependencies are slow to import.
"""

from __future__ import annotations

from typing import Any

LABEXTENSION_NAME = "nsight-lab"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built lab extension lives inside the installed package.

    A wheel also copies it to ``share/jupyter/labextensions/nsight-lab``; this hook is
    what lets an editable checkout be found without that copy.
    """
    return [{"src": "labextension", "dest": LABEXTENSION_NAME}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from nsight_lab.jupyter.server.app import NsightLabExtension

    return [{"module": "nsight_lab.jupyter.server.app", "app": NsightLabExtension}]
