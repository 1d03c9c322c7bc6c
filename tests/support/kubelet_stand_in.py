"""A stand-in for the kubelet: runs a stored Pod's containers as local processes.

No kubelet and no container runtime exist here, yet what matters is that the Pods the
operator and the injector produce really work: their commands, arguments,
environment, Secrets and volumes. This stand-in reads a Pod from the apiserver and
does what a kubelet would, as local processes:

- volumes become folders (emptyDir), or files written from the Secret or ConfigMap
  the Pod names, or the service-account token the Pod would get (through a
  TokenRequest for the Pod's ServiceAccount, handed over as a kubeconfig since the
  ``kubernetes`` client reads in-cluster tokens from fixed paths);
- a container's ``mountPath`` is where such a folder appears, so occurrences of it in
  the command, arguments and environment are replaced by the folder's path
  (containers do not share one root filesystem here);
- environment: literal values with ``$(VAR)`` expansion, the downward API
  (metadata.name/namespace/uid, spec.nodeName, spec.serviceAccountName), Secret and
  ConfigMap keys, in the Pod's order;
- init containers run to completion first, then the containers start;
- cluster DNS: every Service name given in ``hosts`` resolves to 127.0.0.1 through a
  private ``/etc/hosts`` (a mount namespace, as a kubelet manages each Pod's hosts
  file), so a Pod reaches another Pod's Service by name without any cluster IP;
- "images" are this machine's programs: ``ImageStandIn`` says which interpreter a
  container's ``python`` is (the nsight-lab image: this virtualenv; a user's image:
  a Python without nsight-lab) and where its other commands are.

Pods run here bind the addresses their spec says; the operator under test is told to
make services bind 127.0.0.1 (``listenAddress``), so nothing listens beyond loopback.
It never connects to a Pod, node or cluster IP.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nsight_lab.cluster.api import Kube
from tests.support.kube_cluster import _die_with_parent

VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class PodFailed(RuntimeError):
    """An init container failed, or a container could not start; the message has its log."""


@dataclass(frozen=True)
class ImageStandIn:
    """What an image's commands are on this machine."""

    python: str = sys.executable
    commands: Mapping[str, str] = field(default_factory=dict)
    #: The image's ENTRYPOINT, for containers that give only ``args``.
    entrypoint: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, program: str) -> str:
        if program in ("python", "python3"):
            return self.python
        if program in self.commands:
            return self.commands[program]
        found = shutil.which(
            program, path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
        )
        return found or program


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known variables replaced, ``$$`` is ``$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return VAR.sub(sub, text)


def rewrite_paths(text: str, mounts: Sequence[tuple[str, Path]]) -> str:
    """Replace mount paths (at path boundaries) with the folders standing in for them.

    One pass over the text, so a folder's own path (itself under /tmp, say) is never
    rewritten again by a shorter mount path such as ``/tmp``.
    """
    if not mounts:
        return text
    table = {mount.rstrip("/") or "/": str(host) for mount, host in mounts}
    alternatives = "|".join(re.escape(m) for m in sorted(table, key=len, reverse=True))
    pattern = re.compile(r"(?<![\w.-])(" + alternatives + r")(?=$|[/:\s\"',=])")
    return pattern.sub(lambda match: table[match.group(1)], text)


@dataclass
class RunningContainer:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class RunningPod:
    namespace: str
    name: str
    uid: str
    work: Path
    containers: list[RunningContainer]

    def container(self, name: str) -> RunningContainer:
        return next(c for c in self.containers if c.name == name)

    def logs(self) -> str:
        return "\n".join(f"--- {c.name} ---\n{c.log()}" for c in self.containers)

    def wait(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        codes = []
        for c in self.containers:
            codes.append(c.proc.wait(max(0.1, deadline - time.monotonic())))
        return codes

    def kill(self) -> None:
        """SIGKILL, as when a node dies: nothing gets to clean up."""
        for c in self.containers:
            if c.alive():
                with _suppress():
                    os.killpg(c.proc.pid, signal.SIGKILL)
                c.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        for c in self.containers:
            if c.alive():
                with _suppress():
                    os.killpg(c.proc.pid, signal.SIGTERM)
        for c in self.containers:
            try:
                c.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(c.proc.pid, signal.SIGKILL)
                c.proc.wait(timeout)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return isinstance(exc[1], (ProcessLookupError, PermissionError))


class KubeletStandIn:
    """``standin.run(pod)`` starts a Pod read from the apiserver as local processes."""

    def __init__(
        self,
        kube: Kube,
        work_dir: Path,
        *,
        api_server: str,
        ca_file: Path,
        images: Mapping[str, ImageStandIn] | None = None,
        hosts: Sequence[str] = (),
    ) -> None:
        self.kube = kube
        self.work_dir = work_dir
        self.api_server = api_server
        self.ca_file = ca_file
        self.images = dict(images or {})
        self.hosts = list(hosts)
        self.running: list[RunningPod] = []

    # --- the pieces ---------------------------------------------------------------------

    def image(self, name: str) -> ImageStandIn:
        for prefix, stand_in in sorted(self.images.items(), key=lambda kv: -len(kv[0])):
            if name.startswith(prefix):
                return stand_in
        return ImageStandIn()

    def _service_account_volume(self, pod: Mapping[str, Any], folder: Path) -> None:
        """The Pod's projected token, as a kubeconfig the ``kubernetes`` client will read."""
        meta, spec = pod["metadata"], pod["spec"]
        account = spec.get("serviceAccountName") or "default"
        answer = self.kube.request(
            "POST",
            f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token",
            body={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {
                    "expirationSeconds": 3600,
                    "boundObjectRef": {
                        "kind": "Pod",
                        "apiVersion": "v1",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                },
            },
        )
        token = answer["status"]["token"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(token)
        shutil.copy(self.ca_file, folder / "ca.crt")
        (folder / "namespace").write_text(meta["namespace"])
        (folder / "kubeconfig").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "c",
                            "cluster": {
                                "server": self.api_server,
                                "certificate-authority": str(folder / "ca.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "sa", "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": "c",
                            "context": {
                                "cluster": "c",
                                "user": "sa",
                                "namespace": meta["namespace"],
                            },
                        }
                    ],
                    "current-context": "c",
                }
            )
        )

    def _volumes(self, pod: Mapping[str, Any], work: Path) -> tuple[dict[str, Path], Path | None]:
        folders: dict[str, Path] = {}
        kubeconfig = None
        ns = pod["metadata"]["namespace"]
        for volume in pod["spec"].get("volumes") or []:
            name = volume["name"]
            folder = work / "volumes" / name
            folder.mkdir(parents=True, exist_ok=True)
            folders[name] = folder
            if "secret" in volume:
                data = self.kube.secret_data(volume["secret"]["secretName"], ns)
                if data is None and not volume["secret"].get("optional"):
                    raise PodFailed(
                        f"volume {name}: Secret {volume['secret']['secretName']} not found"
                    )
                self._write_items(folder, data or {}, volume["secret"].get("items"))
            elif "configMap" in volume:
                found = self.kube.get("v1", "ConfigMap", volume["configMap"]["name"], ns)
                data = {k: v.encode() for k, v in ((found or {}).get("data") or {}).items()}
                self._write_items(folder, data, volume["configMap"].get("items"))
            elif "projected" in volume:
                sources = volume["projected"].get("sources") or []
                if any("serviceAccountToken" in s for s in sources):
                    self._service_account_volume(pod, folder)
                    kubeconfig = folder / "kubeconfig"
        return folders, kubeconfig

    @staticmethod
    def _write_items(
        folder: Path, data: Mapping[str, bytes], items: Sequence[Mapping[str, str]] | None
    ) -> None:
        if items:
            for item in items:
                target = folder / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data[item["key"]])
        else:
            for key, value in data.items():
                (folder / key).write_bytes(value)

    def _field(self, pod: Mapping[str, Any], path: str) -> str:
        meta, spec = pod["metadata"], pod["spec"]
        values = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        }
        if path not in values:
            raise PodFailed(
                f"the kubelet stand-in cannot give fieldRef {path} (only {', '.join(values)})"
            )
        return values[path]

    def _env(
        self, pod: Mapping[str, Any], container: Mapping[str, Any], base: dict[str, str]
    ) -> dict[str, str]:
        env = dict(base)
        declared: dict[str, str] = {}
        ns = pod["metadata"]["namespace"]
        for item in container.get("env") or []:
            name = item["name"]
            if "value" in item:
                value = expand(item["value"], declared)
            elif "valueFrom" in item:
                source = item["valueFrom"]
                if "fieldRef" in source:
                    value = self._field(pod, source["fieldRef"]["fieldPath"])
                elif "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    data = self.kube.secret_data(ref["name"], ns) or {}
                    if ref["key"] not in data:
                        if ref.get("optional"):
                            continue
                        raise PodFailed(f"env {name}: Secret {ref['name']} has no key {ref['key']}")
                    value = data[ref["key"]].decode()
                elif "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    found = self.kube.get("v1", "ConfigMap", ref["name"], ns) or {}
                    value = (found.get("data") or {}).get(ref["key"], "")
                else:
                    raise PodFailed(f"env {name}: the stand-in does not support {sorted(source)}")
            else:
                value = ""
            declared[name] = value
        env.update(declared)
        return env

    def _argv(
        self, container: Mapping[str, Any], env: Mapping[str, str], mounts: list[tuple[str, Path]]
    ) -> list[str]:
        image = self.image(container.get("image", ""))
        command = list(container.get("command") or image.entrypoint)
        argv = [
            rewrite_paths(expand(a, env), mounts)
            for a in command + list(container.get("args") or [])
        ]
        if not argv:
            raise PodFailed(
                f"container {container['name']}: no command, and its image has no entrypoint here"
            )
        argv[0] = image.resolve(argv[0])
        return argv

    def _wrap_hosts(self, argv: list[str], work: Path) -> list[str]:
        if not self.hosts:
            return argv
        hosts = work / "hosts"
        lines = ["127.0.0.1 localhost"] + [f"127.0.0.1 {h}" for h in self.hosts]
        hosts.write_text("\n".join(lines) + "\n")
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"',
            str(hosts),
            *argv,
        ]

    def _start(
        self,
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        work: Path,
        folders: dict[str, Path],
        kubeconfig: Path | None,
    ) -> RunningContainer:
        image = self.image(container.get("image", ""))
        mounts = []
        for mount in container.get("volumeMounts") or []:
            folder = folders.get(mount["name"])
            if folder is None:
                raise PodFailed(
                    f"container {container['name']}: volume {mount['name']} is not in the Pod"
                )
            if mount.get("subPath"):
                folder = folder / mount["subPath"]
            mounts.append((mount["mountPath"], folder))
        home = work / "home" / container["name"]
        home.mkdir(parents=True, exist_ok=True)
        base = {
            "PATH": os.pathsep.join(
                [str(Path(image.python).parent), "/usr/local/bin", "/usr/bin", "/bin"]
            ),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "HOSTNAME": pod["metadata"]["name"],
            **image.env,
        }
        if kubeconfig is not None:
            base["KUBECONFIG"] = str(kubeconfig)
        declared = self._env(pod, container, {})
        env = {**base, **{k: rewrite_paths(v, mounts) for k, v in declared.items()}}
        argv = self._wrap_hosts(self._argv(container, env, mounts), work)
        log_path = work / "logs" / f"{container['name']}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=home,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return RunningContainer(container["name"], proc, log_path)

    # --- the Pod --------------------------------------------------------------------------

    def run(self, pod: Mapping[str, Any], *, init_timeout: float = 60.0) -> RunningPod:
        """Run ``pod`` (a Pod as stored by the apiserver): init containers, then containers."""
        meta = pod["metadata"]
        work = self.work_dir / meta["namespace"] / meta["name"]
        work.mkdir(parents=True, exist_ok=True)
        folders, kubeconfig = self._volumes(pod, work)
        for init in pod["spec"].get("initContainers") or []:
            started = self._start(pod, init, work, folders, kubeconfig)
            try:
                code = started.proc.wait(init_timeout)
            except subprocess.TimeoutExpired:
                started.proc.kill()
                raise PodFailed(
                    f"init container {init['name']} ran past {init_timeout:.0f} s:\n{started.log()}"
                ) from None
            if code != 0:
                raise PodFailed(f"init container {init['name']} exited {code}:\n{started.log()}")
        running = RunningPod(
            meta["namespace"],
            meta["name"],
            meta.get("uid", ""),
            work,
            [self._start(pod, c, work, folders, kubeconfig) for c in pod["spec"]["containers"]],
        )
        self.running.append(running)
        return running

    def report_exit(self, running: RunningPod, codes: Sequence[int]) -> None:
        """Write the Pod's final status the way a kubelet does, from the exit codes."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        phase = "Succeeded" if all(c == 0 for c in codes) else "Failed"
        statuses = [
            {
                "name": c.name,
                "image": "stand-in",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "startedAt": now,
                        "finishedAt": now,
                    }
                },
            }
            for c, code in zip(running.containers, codes, strict=True)
        ]
        self.kube.merge_patch(
            "v1",
            "Pod",
            running.name,
            {"status": {"phase": phase, "containerStatuses": statuses}},
            running.namespace,
            subresource="status",
        )

    def stop_all(self) -> None:
        for running in self.running:
            running.stop()
        self.running.clear()


def secret_b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()
