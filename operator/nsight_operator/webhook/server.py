"""The webhook's HTTPS endpoint: ``POST /mutate`` (AdmissionReview v1), ``GET /healthz``.

Every failure inside answers "allowed, unchanged" with a warning: together with the
configuration's ``failurePolicy: Ignore`` and short ``timeoutSeconds`` this means a
broken or slow injector costs a Pod its profiling, never its admission.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

from aiohttp import web

from nsight_operator.webhook.injector import Injector
from nsight_operator.webhook.tls import ServingContext

log = logging.getLogger("nsight_operator.webhook")

MAX_BODY = 8 * 1024 * 1024


def review_response(uid: str, patch: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if warnings:
        response["warnings"] = [w[:500] for w in warnings[:10]]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


class WebhookServer:
    def __init__(self, injector: Injector, tls: ServingContext, host: str, port: int) -> None:
        self.injector = injector
        self.tls = tls
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.admitted = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/mutate", self.mutate)
        app.router.add_get("/healthz", self.healthz)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "admitted": self.admitted})

    async def mutate(self, request: web.Request) -> web.Response:
        try:
            review = await request.json()
            req = review["request"]
            uid = str(req["uid"])
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"not an AdmissionReview: {exc}"}, status=400)
        patch: list[dict[str, Any]] = []
        warnings: list[str] = []
        try:
            if (
                (req.get("kind") or {}).get("kind") == "Pod"
                and req.get("operation") == "CREATE"
                and not req.get("subResource")
            ):
                pod = req.get("object") or {}
                namespace = (
                    req.get("namespace")
                    or (pod.get("metadata") or {}).get("namespace")
                    or "default"
                )
                decision = await asyncio.get_running_loop().run_in_executor(
                    None, self.injector.decide, pod, namespace
                )
                patch, warnings = decision.patch, decision.warnings
                if decision.after and not req.get("dryRun"):
                    for step in decision.after:
                        await asyncio.get_running_loop().run_in_executor(None, step)
                self.admitted += 1
        except Exception as exc:
            log.exception("injection failed; admitting the Pod unchanged")
            patch, warnings = [], [f"nsight-lab: not injected ({exc.__class__.__name__}: {exc})"]
        return web.json_response(review_response(uid, patch, warnings))

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.tls.context)
        await site.start()
        log.info("injector webhook listening on https://%s:%d/mutate", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
