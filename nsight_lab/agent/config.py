"""Agent settings, read from the environment or a small config file.

The agent starts inside processes we do not own (through ``sitecustomize``), so its
whole configuration travels in environment variables that ``nsight-lab run`` or the
Kubernetes injector set; a file (``NSIGHT_LAB_AGENT_CONFIG``, INI or JSON) is there
for hosts where setting many variables is awkward. Variables win over the file so a
single override never needs a second file.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "NSIGHT_LAB_"
COLLECTORS = ("pyspy", "nsys", "annotations", "auto", "torch", "cupti")
DEFAULT_TAG = "default"
#: The parent of every per-process spool folder; a new agent adopts the folders
#: that dead processes left here. ``NSIGHT_LAB_SPOOL_ROOT`` moves it (a bigger disk,
#: or one folder per job so that jobs never adopt each other's reports).
DEFAULT_SPOOL_ROOT = Path("~/.cache/nsight-lab/spool")
SPOOL_ROOT_ENV = ENV_PREFIX + "SPOOL_ROOT"
#: Where reports go: ``upload`` (to the coordinator's storage) or ``pod`` (kept in the
#: report folder, downloaded through the coordinator on demand).
REPORT_STORAGES = ("upload", "pod")


def default_report_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Beside the spool root: in a Pod that is the injected volume, which every
    container of the Pod shares and ``kubectl cp`` reaches."""
    return spool_root(environ).parent / "reports"


def spool_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where this process's spool folder goes, beside those of earlier processes."""
    env = os.environ if environ is None else environ
    return Path(env.get(SPOOL_ROOT_ENV) or DEFAULT_SPOOL_ROOT).expanduser()


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable or file."""


@dataclass(frozen=True)
class AgentConfig:
    #: The coordinator API root, e.g. ``http://127.0.0.1:8888/coordinator/api/v1/``;
    #: always stored with a trailing ``/`` so relative paths land under it.
    coordinator_url: str
    tag: str = DEFAULT_TAG
    instance: str = ""
    process_name: str = "python"
    collector: str = "auto"
    spool_dir: Path = field(default_factory=lambda: spool_root() / str(os.getpid()))
    #: True when ``spool_dir`` is the default per-pid folder: then folders of dead
    #: processes beside it are adopted and uploaded.
    adopt_orphan_spools: bool = True
    api_key: str | None = None
    #: A file holding the bearer credential (key or token), re-read when it changes.
    token_file: str | None = None
    log_file: str | None = None
    #: The process the collector records; the agent's own process unless attaching.
    target_pid: int = field(default_factory=os.getpid)
    nsys_session: str | None = None
    nsys_path: str | None = None
    pyspy_path: str | None = None
    http_timeout_s: float = 10.0
    #: Upper bound of every retry wait (registration, polling, uploads).
    retry_max_s: float = 30.0
    #: Overrides the long-poll timeout the coordinator suggests (≤ 30 s).
    poll_timeout_s: float | None = None
    #: How long interpreter exit may wait for pending uploads and ``bye``.
    exit_grace_s: float = 3.0
    #: ``upload`` or ``pod`` (``NSIGHT_LAB_REPORT_STORAGE``, see REPORT_STORAGES).
    report_storage: str = "upload"
    #: The folder ``pod`` keeps reports in (``NSIGHT_LAB_REPORT_DIR``).
    report_dir: Path = field(default_factory=default_report_dir)

    @property
    def host(self) -> str:
        return socket.gethostname()


# Keys accepted in the file and (upper-cased, prefixed) in the environment.
_STRING_KEYS = {
    "coordinator_url": "COORDINATOR_URL",
    "tag": "TAG",
    "instance": "INSTANCE",
    "process_name": "PROCESS_NAME",
    "collector": "COLLECTOR",
    "spool_dir": "SPOOL_DIR",
    "api_key": "API_KEY",
    "token_file": "TOKEN_FILE",
    "log_file": "AGENT_LOG",
    "nsys_session": "NSYS_SESSION",
    "nsys_path": "NSYS",
    "pyspy_path": "PYSPY",
    "target_pid": "TARGET_PID",
    "include_patterns": "INCLUDE_PATTERNS",
    "report_storage": "REPORT_STORAGE",
    "report_dir": "REPORT_DIR",
}
_FLOAT_KEYS = {
    "http_timeout_s": "HTTP_TIMEOUT_S",
    "retry_max_s": "RETRY_MAX_S",
    "poll_timeout_s": "POLL_TIMEOUT_S",
    "exit_grace_s": "EXIT_GRACE_S",
}


def derive_process_name(argv: Sequence[str]) -> str:
    """A short name for the process from its full command line (``sys.orig_argv``).

    ``python train.py`` gives ``train``, ``python -m pkg.tool`` gives ``pkg.tool``,
    ``python -c ...`` gives ``python``. The name becomes part of report file names,
    so a stable, human-recognisable one matters more than a unique one.
    """
    if not argv:
        return "python"
    rest = list(argv[1:])
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "-m" and i + 1 < len(rest):
            return rest[i + 1]
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:]
        if arg == "-c" or arg.startswith("-c"):
            break
        if arg in ("-W", "-X", "-Q"):
            i += 2
            continue
        if arg == "-":
            break
        if not arg.startswith("-"):
            stem = Path(arg).name
            for suffix in (".py", ".pyw", ".pyz"):
                stem = stem.removesuffix(suffix)
            return stem or "python"
        i += 1
    return Path(argv[0]).name or "python"


def normalize_url(url: str) -> str:
    """The API root with a trailing ``/``, so ``urljoin`` keeps its last segment."""
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"NSIGHT_LAB_COORDINATOR_URL={url!r}: must start with http:// or https://"
        )
    return url if url.endswith("/") else url + "/"


def command_line(pid: int | None = None) -> list[str]:
    """The full command line of ``pid`` (``/proc``), or of this process."""
    if pid is not None:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return []
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return _command_line()


def _command_line() -> list[str]:
    orig = getattr(sys, "orig_argv", None)
    if orig:
        return list(orig)
    try:
        raw = Path("/proc/self/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    except OSError:
        return list(getattr(sys, "argv", []) or [sys.executable])


def _read_file(path: str) -> dict[str, str]:
    """Settings from an INI (section ``[agent]``) or JSON object file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"NSIGHT_LAB_AGENT_CONFIG={path}: cannot read the file: {exc}") from exc
    stripped = text.lstrip()
    looks_json = stripped.startswith("{") or path.endswith(".json")
    if not looks_json and stripped.startswith("["):
        try:  # an INI section header also starts with "["
            json.loads(text)
            looks_json = True
        except json.JSONDecodeError:
            pass
    if looks_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the JSON must be an object of settings")
        items = data
    else:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            raise ConfigError(f"{path}: not a valid INI file: {exc}") from exc
        if not parser.has_section("agent"):
            raise ConfigError(
                f"{path}: no [agent] section (expected INI with [agent] or a JSON object)"
            )
        items = dict(parser.items("agent"))
    known = set(_STRING_KEYS) | set(_FLOAT_KEYS)
    result: dict[str, str] = {}
    for key, value in items.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
        if value is None:
            continue
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{path}: setting {key!r} must be a string or number")
        result[key] = str(value)
    return result


def include_patterns(text: str) -> list[re.Pattern[str]]:
    """``NSIGHT_LAB_INCLUDE_PATTERNS``: a JSON list of regexes, or one regex per line."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"NSIGHT_LAB_INCLUDE_PATTERNS: not a JSON list: {exc}") from exc
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError("NSIGHT_LAB_INCLUDE_PATTERNS: the JSON must be a list of strings")
    else:
        items = [line for line in stripped.splitlines() if line.strip()]
    try:
        return [re.compile(item) for item in items]
    except re.error as exc:
        raise ConfigError(f"NSIGHT_LAB_INCLUDE_PATTERNS: {exc.pattern!r}: {exc}") from exc


def command_included(patterns_text: str, argv: Sequence[str] | None = None) -> bool:
    """Whether this process's command line matches one of the include patterns.

    The injector adds the agent to every Python process of a container; the patterns
    (``injectionIncludePatterns`` of the profile config) keep helpers such as a
    launcher or a data-loader server from joining. No patterns means every process.
    """
    patterns = include_patterns(patterns_text)
    if not patterns:
        return True
    line = " ".join(_command_line() if argv is None else argv)
    return any(p.search(line) for p in patterns)


def load_config(environ: Mapping[str, str] | None = None) -> AgentConfig | None:
    """The agent's settings, or ``None`` when no coordinator URL is configured.

    ``None`` is not an error: a process that inherited the bootstrap path but no URL
    simply runs without an agent.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    file_path = env.get(ENV_PREFIX + "AGENT_CONFIG")
    if file_path:
        raw.update(_read_file(file_path))
    for key, suffix in {**_STRING_KEYS, **_FLOAT_KEYS}.items():
        value = env.get(ENV_PREFIX + suffix)
        if value is not None and value != "":
            raw[key] = value

    url = raw.get("coordinator_url", "").strip()
    if not url:
        return None
    url = normalize_url(url)
    if "include_patterns" in raw and not command_included(raw["include_patterns"]):
        return None

    collector = raw.get("collector", "auto").strip().lower()
    if collector not in COLLECTORS:
        raise ConfigError(
            f"NSIGHT_LAB_COLLECTOR={collector!r}: must be one of {', '.join(COLLECTORS)}"
        )

    floats: dict[str, float] = {}
    for key, suffix in _FLOAT_KEYS.items():
        if key in raw:
            try:
                number = float(raw[key])
            except ValueError:
                raise ConfigError(f"NSIGHT_LAB_{suffix}={raw[key]!r}: not a number") from None
            if not number > 0:
                raise ConfigError(f"NSIGHT_LAB_{suffix}={raw[key]!r}: must be positive")
            floats[key] = number

    target_pid = os.getpid()
    if "target_pid" in raw:
        try:
            target_pid = int(raw["target_pid"])
        except ValueError:
            raise ConfigError(
                f"NSIGHT_LAB_TARGET_PID={raw['target_pid']!r}: not an integer"
            ) from None

    if "spool_dir" in raw:
        spool_dir = Path(raw["spool_dir"]).expanduser()
        adopt = False
    else:
        spool_dir = spool_root(env) / str(os.getpid())
        adopt = True

    report_storage = raw.get("report_storage", "upload").strip().lower() or "upload"
    if report_storage not in REPORT_STORAGES:
        raise ConfigError(
            f"NSIGHT_LAB_REPORT_STORAGE={report_storage!r}: must be one of "
            f"{', '.join(REPORT_STORAGES)}"
        )
    report_dir = Path(raw["report_dir"]).expanduser() if raw.get("report_dir") else None

    tag = raw.get("tag", "").strip() or DEFAULT_TAG
    if len(tag) > 128:
        raise ConfigError(f"NSIGHT_LAB_TAG: at most 128 characters, got {len(tag)}")

    return AgentConfig(
        coordinator_url=url,
        tag=tag,
        instance=raw.get("instance", "").strip() or f"{socket.gethostname()}-{os.getpid()}",
        process_name=raw.get("process_name", "").strip() or derive_process_name(_command_line()),
        collector=collector,
        spool_dir=spool_dir,
        adopt_orphan_spools=adopt,
        api_key=raw.get("api_key") or None,
        token_file=raw.get("token_file") or None,
        log_file=raw.get("log_file") or None,
        target_pid=target_pid,
        nsys_session=raw.get("nsys_session") or None,
        nsys_path=raw.get("nsys_path") or None,
        pyspy_path=raw.get("pyspy_path") or None,
        report_storage=report_storage,
        report_dir=report_dir or default_report_dir(env),
        **floats,
    )
