"""Routes of the server extension, all under ``<base_url>/nsight-lab/``."""

from __future__ import annotations

from typing import Any


def routes() -> list[tuple[str, Any]]:
    from nsight_lab.jupyter.server.handlers.downloads import FileDownloadHandler, JobOutputHandler
    from nsight_lab.jupyter.server.handlers.notebooks import HtmlReportHandler, OpenNotebookHandler
    from nsight_lab.jupyter.server.handlers.proxy import ProxyHandler
    from nsight_lab.jupyter.server.handlers.status import StatusHandler
    from nsight_lab.jupyter.server.handlers.traces import (
        TraceEventHandler,
        TraceOpenHandler,
        TraceSummaryHandler,
        TraceTilesHandler,
        WidgetStaticHandler,
    )

    return [
        (r"/nsight-lab/api/(coordinator|analysis)/(.*)", ProxyHandler),
        (r"/nsight-lab/status", StatusHandler),
        (r"/nsight-lab/open-notebook", OpenNotebookHandler),
        (r"/nsight-lab/html/([^/]+)/([^/]+)", HtmlReportHandler),
        (r"/nsight-lab/download/file/([^/]+)", FileDownloadHandler),
        (r"/nsight-lab/download/job/([^/]+)/(.+)", JobOutputHandler),
        (r"/nsight-lab/traces", TraceOpenHandler),
        (r"/nsight-lab/traces/([0-9a-f]{20})/tiles", TraceTilesHandler),
        (r"/nsight-lab/traces/([0-9a-f]{20})/event", TraceEventHandler),
        (r"/nsight-lab/traces/([0-9a-f]{20})/summary", TraceSummaryHandler),
        (r"/nsight-lab/static/([^/]+)", WidgetStaticHandler),
    ]
