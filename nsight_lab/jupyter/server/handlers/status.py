"""``/nsight-lab/status``: is the configured gateway reachable with our credentials?

The panel shows this before anything else, so a wrong URL, a missing key or an
unsafe config file is explained once, at the top, instead of as a failure on every
control.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from nsight_lab.jupyter.server.handlers.base import HandlerError, NsightHandler


class StatusHandler(NsightHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        status: dict[str, Any] = {
            "gateway": None,
            "tag": None,
            "auth": "none",
            "reachable": False,
            "error": None,
            "tags": [],
            "workspace": self.nsight.workspace_dir,
        }
        try:
            conn = self.connection()
            status.update(gateway=conn.gateway, tag=conn.tag, auth=conn.auth_label)
            # ``/tags`` needs the same authorization as every other call, so a wrong
            # key shows up here rather than on the first button the user presses.
            status["tags"] = await self.gateway_json(conn, "coordinator", "tags")
            status["reachable"] = True
        except HandlerError as error:
            status["error"] = error.detail
        self.finish_json(status)
