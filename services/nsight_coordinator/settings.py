"""What an operator can tune on the coordinator, read from ``NSIGHT_LAB_COORDINATOR_*``.

Timings decide how fast a lost agent is noticed and how long a poll may hang, so they
are checked against each other here rather than failing in odd ways at run time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nsight_lab.storage.base import DEFAULT_EXPIRY_S, DEFAULT_PART_SIZE, MIN_PART_SIZE

#: PROTOCOL.md caps a long-poll at 30 s so proxies with a 60 s idle limit never cut one.
MAX_POLL_TIMEOUT_S = 30.0


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NSIGHT_LAB_COORDINATOR_", extra="ignore")

    #: The SQLite state file; a restart on the same file loses nothing.
    db_path: Path = Path("nsight-coordinator.sqlite3")
    #: An agent not seen (no poll, no heartbeat) for this long becomes LOST.
    agent_expiry_s: float = Field(15.0, gt=0)
    #: Told to agents at registration: how often to heartbeat while busy.
    heartbeat_interval_s: float = Field(5.0, gt=0)
    #: Told to agents at registration, and the default ``timeout`` of a poll.
    poll_timeout_s: float = Field(20.0, gt=0, le=MAX_POLL_TIMEOUT_S)
    #: How often the background task looks for lost agents and finished collections.
    expiry_check_interval_s: float = Field(1.0, gt=0, le=60)
    #: Uploads above this size go multipart, in parts of this size.
    part_size: int = Field(DEFAULT_PART_SIZE, ge=MIN_PART_SIZE)
    #: Lifetime of presigned upload and download URLs.
    presign_expiry_s: int = Field(DEFAULT_EXPIRY_S, gt=0, le=7 * 24 * 3600)
    #: How long a download of a file held in a Pod waits for its agent to start
    #: streaming (the agent hears of it on its next poll, within milliseconds when alive).
    relay_wait_s: float = Field(15.0, gt=0, le=300)
    #: A relayed stream that sends nothing for this long is cut off (the agent stalled).
    relay_idle_s: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _heartbeat_fits_expiry(self) -> CoordinatorSettings:
        if self.heartbeat_interval_s >= self.agent_expiry_s:
            raise ValueError(
                f"heartbeat_interval_s ({self.heartbeat_interval_s}) must be shorter than "
                f"agent_expiry_s ({self.agent_expiry_s}), or every busy agent would expire"
            )
        return self
