"""The in-process agent: standard library only, never crashes or slows its host.

It is injected into processes whose Python environment we do not own (through
``sitecustomize``), so nothing under this package may import anything outside the
standard library, and every failure is logged and swallowed.
"""

from nsight_lab.agent.annotate import annotate
from nsight_lab.agent.config import AgentConfig, ConfigError, load_config
from nsight_lab.agent.runtime import Agent, current_agent, start_agent_from_env

__all__ = [
    "Agent",
    "AgentConfig",
    "ConfigError",
    "annotate",
    "current_agent",
    "load_config",
    "start_agent_from_env",
]
