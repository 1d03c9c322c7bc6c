"""``autoconfigure``: configure the CLI from the gateway a cluster runs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import CliFailure, handle_errors
from nsight_lab.config import PortForwardSpec, config_path, load_config, save_config


@click.command()
@click.option("-n", "--namespace", required=True, help="Namespace of the gateway.")
@click.option(
    "-s",
    "--servicename",
    default="nsight-operator-gateway",
    show_default=True,
    help="The gateway's Service.",
)
@click.option(
    "--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
)
@click.option("--context", "kube_context", default=None, help="kubeconfig context to use.")
@click.option(
    "--no-port-forward",
    is_flag=True,
    help="For a ClusterIP gateway: print the kubectl port-forward commands instead of running them.",
)
@common_options
@pass_cli
@handle_errors
def autoconfigure(
    cli: CliContext,
    namespace: str,
    servicename: str,
    kubeconfig: str | None,
    kube_context: str | None,
    no_port_forward: bool,
) -> None:
    """Find the gateway in the cluster and write ~/.nsight-cloud.conf for it.

    \b
    Reads the Service (ClusterIP, NodePort or LoadBalancer) for the URL, the
    NsightGateway for the auth mode (the API key from its Secret, the OIDC
    settings for `login`), the CA of its TLS Secret, and where reports are kept.
    For ClusterIP it starts `kubectl port-forward` and keeps it running for
    later commands.

    \b
    Examples:
      nsight-lab autoconfigure -n nsight-operator
      nsight-lab autoconfigure -n team-a -s team-a-gateway --output json
    """
    from nsight_lab.cluster import port_forward
    from nsight_lab.cluster.api import ClusterUnavailable, KubeError, connect
    from nsight_lab.cluster.autoconfigure import AutoconfigureError, discover

    try:
        kube = connect(kubeconfig, kube_context)
        previous = load_config()
        found = discover(
            kube,
            namespace,
            servicename,
            base=previous.model_copy(update={"tag": cli.tag or previous.tag}),
        )
    except (AutoconfigureError, ClusterUnavailable) as exc:
        raise CliFailure(str(exc)) from exc
    except KubeError as exc:
        if exc.status in (401, 403):
            raise CliFailure(
                f"the cluster refused to show {namespace}/{servicename} ({exc.status}): autoconfigure "
                "needs to read Services, NsightGateways and the gateway's Secrets there"
            ) from exc
        raise CliFailure(f"the Kubernetes API failed: {exc}") from exc
    config = found.config
    if found.ca_pem is not None:
        ca_path = config_path().with_name(f".nsight-cloud-{namespace}-{servicename}-ca.crt")
        fd = os.open(ca_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(found.ca_pem)
        config = config.model_copy(update={"ca_cert": str(ca_path)})
    kubectl = os.environ.get("NSIGHT_LAB_KUBECTL", "kubectl")
    kubeconfig_abs = str(Path(kubeconfig).resolve()) if kubeconfig else os.environ.get("KUBECONFIG")
    specs = [
        PortForwardSpec(
            command=f.command(kubectl, kubeconfig_abs, kube_context), local_port=f.local_port
        )
        for f in found.port_forwards
    ]
    port_forward.stop(previous)
    config = config.model_copy(update={"port_forwards": specs})
    started = []
    if specs and not no_port_forward:
        config, _ = port_forward.ensure(config)
        started = [s.pid for s in config.port_forwards]
    path = save_config(config)
    result = {
        "config": str(path),
        "gw": config.gw,
        "service_type": found.service_type,
        "auth": found.auth_mode,
        "ca_cert": config.ca_cert,
        "port_forwards": [
            {
                "command": s.command,
                "local_port": s.local_port,
                "pid": s.pid,
                "running": not no_port_forward,
            }
            for s in config.port_forwards
        ],
        "storage_proxies": config.storage_proxies,
        "notes": found.notes,
    }

    def human() -> None:
        console = cli.printer.console
        console.print(
            f"Saved {path}: gateway {config.gw} ({found.service_type}, auth {found.auth_mode})"
        )
        for spec in config.port_forwards:
            verb = "running" if started else "run this yourself"
            console.print(f"  port-forward ({verb}): {' '.join(spec.command)}")
        for note in found.notes:
            console.print(f"  note: {note}")

    cli.printer.emit(result, human)
