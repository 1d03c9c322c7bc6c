"""``python -m nsight_operator``: the webhook on every replica, reconciling on the leader.

Start-up order: make sure the webhook certificate exists and the configuration trusts
it, serve the webhook, then campaign for the Lease; the elected replica runs the kopf
handlers. A leader that loses the Lease exits (status 1) rather than risk two
reconcilers: its Deployment restarts it as a follower.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading

import kopf

from nsight_lab.cluster.api import Kube, connect
from nsight_operator.handlers import Handlers, configure
from nsight_operator.leader import LeaderElector
from nsight_operator.reconcile import Reconciler
from nsight_operator.settings import OperatorSettings
from nsight_operator.webhook.injector import Injector
from nsight_operator.webhook.server import WebhookServer
from nsight_operator.webhook.tls import ServingContext, ensure_cert, patch_ca_bundle

log = logging.getLogger("nsight_operator")
LOST_LEADERSHIP = 1


class Operator:
    def __init__(self, settings: OperatorSettings, kube: Kube) -> None:
        self.settings = settings
        self.kube = kube
        self.reconciler = Reconciler(kube, settings)
        self.injector = Injector(
            kube,
            settings,
            coordinator_url=self.reconciler.agent_coordinator_url,
            agent_auth=self.reconciler.agent_auth,
        )
        self.stop = asyncio.Event()
        self.exit_code = 0
        self.handlers = Handlers(kube, self.reconciler, settings)
        self._kopf_stop: asyncio.Event | None = None
        self._kopf_task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None

    # --- webhook -------------------------------------------------------------------------

    async def _refresh_cert(self, tls: ServingContext) -> None:
        cert = await asyncio.to_thread(ensure_cert, self.kube, self.settings)
        if tls.load(cert):
            log.info("webhook now serves certificate valid for %s", self.settings.webhook_dns_names)
        await asyncio.to_thread(
            patch_ca_bundle, self.kube, self.settings.webhook_config_name, cert.ca_pem
        )

    async def _rotate(self, tls: ServingContext) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.settings.webhook_cert_check_s)
            if self.stop.is_set():
                return
            try:
                await self._refresh_cert(tls)
            except Exception:
                log.exception("webhook certificate check failed; retrying later")

    # --- reconciling -----------------------------------------------------------------------

    def _registry(self) -> kopf.OperatorRegistry:
        registry = kopf.OperatorRegistry()
        kopf.on.login(registry=registry)(kopf.login_via_client)
        self.handlers.register(registry)
        return registry

    async def _resync(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.resync_s)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(self.handlers.resync_all)
            except Exception:
                log.exception("periodic resync failed; retrying at the next one")

    async def start_reconciling(self) -> None:
        if self._kopf_task is not None:
            return
        settings = kopf.OperatorSettings()
        configure(settings, self.settings)
        self._kopf_stop = asyncio.Event()
        namespaces = self.settings.namespaces
        self._kopf_task = asyncio.create_task(
            kopf.operator(
                registry=self._registry(),
                settings=settings,
                standalone=True,
                clusterwide=not namespaces,
                namespaces=namespaces,
                stop_flag=self._kopf_stop,
            )
        )
        self._resync_task = asyncio.create_task(self._resync(self._kopf_stop))
        log.info("reconciling %s", ", ".join(namespaces) if namespaces else "all namespaces")

    async def stop_reconciling(self) -> None:
        if self._kopf_task is None or self._kopf_stop is None:
            return
        self._kopf_stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._kopf_task, 30)
        if self._resync_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._resync_task, 30)
        self._kopf_task = self._resync_task = None

    # --- everything ---------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        server = None
        tasks: list[asyncio.Task[None]] = []
        if self.settings.webhook_enabled:
            tls = ServingContext()
            await self._refresh_cert(tls)
            server = WebhookServer(
                self.injector, tls, self.settings.webhook_host, self.settings.webhook_port
            )
            await server.start()
            tasks.append(asyncio.create_task(self._rotate(tls)))
        elector = None
        if self.settings.leader_election:
            elector = LeaderElector(
                self.kube,
                self.settings.namespace,
                self.settings.lease_name,
                self.settings.identity,
                lease_duration_s=self.settings.lease_duration_s,
                renew_deadline_s=self.settings.renew_deadline_s,
                retry_period_s=self.settings.retry_period_s,
            )

            def started() -> None:
                asyncio.run_coroutine_threadsafe(self.start_reconciling(), loop)

            def stopped() -> None:
                if not self.stop.is_set():
                    self.exit_code = LOST_LEADERSHIP
                    loop.call_soon_threadsafe(self.stop.set)

            thread = threading.Thread(
                target=elector.run, args=(started, stopped), name="leader-election", daemon=True
            )
            thread.start()
        else:
            await self.start_reconciling()
        try:
            await self.stop.wait()
        finally:
            await self.stop_reconciling()
            if elector is not None:
                elector.stop()
                await asyncio.to_thread(thread.join, 10)
            for task in tasks:
                task.cancel()
            if server is not None:
                await server.stop()
        return self.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nsight_operator",
        description="Reconcile the Nsight* resources and serve the agent injector webhook. "
        "Settings come from NSIGHT_LAB_OPERATOR_* variables (see nsight_operator/settings.py).",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kopf").setLevel(
        max(logging.INFO, logging.getLevelName(args.log_level.upper()))
    )
    settings = OperatorSettings()
    operator = Operator(settings, connect())
    return asyncio.run(operator.run())


if __name__ == "__main__":
    sys.exit(main())
