"""Named capture presets (profile configs): collector options by name, a default per tag.

A preset is what a team agrees a good capture is ("torch with shapes, 5 steps after
10 warm-up steps"); ``profiler-start --preset NAME`` uses it, and a tag named in its
``default_for_tags`` uses it when a start names none. The Kubernetes operator maps
NsightOperatorProfileConfig resources onto these (docs/PROTOCOL.md, "Presets").
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from nsight_coordinator import tenancy
from nsight_coordinator.errors import Invalid, NotFound
from nsight_coordinator.state import State
from nsight_lab.gateway.identity import Caller
from nsight_lab.models import ProfilePreset
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["presets"])


def _unknown(name: str) -> NotFound:
    return NotFound(f"no preset {name!r}; list them with GET /api/v1/presets")


@router.get("/presets", response_model=list[ProfilePreset])
async def list_presets(state: State) -> list[ProfilePreset]:
    return state.db.list_presets()


@router.get("/presets/{name}", response_model=ProfilePreset)
async def get_preset(name: str, state: State) -> ProfilePreset:
    preset = state.db.get_preset(name)
    if preset is None:
        raise _unknown(name)
    return preset


def _require_tags(caller: Caller, preset: ProfilePreset | None) -> None:
    """A tenant may only make a preset the default of its own tags."""
    for tag in preset.default_for_tags if preset is not None else ():
        tenancy.require_tag(caller, tag)


@router.put("/presets/{name}", response_model=ProfilePreset)
async def put_preset(
    name: str, body: ProfilePreset, state: State, caller: CallerDep
) -> ProfilePreset:
    """Create or replace; the body's ``name`` must match the path."""
    if body.name != name:
        raise Invalid(f"the body names preset {body.name!r} but the path says {name!r}")
    _require_tags(caller, body)
    _require_tags(caller, state.db.get_preset(name))
    return state.db.put_preset(body, time.time())


@router.delete("/presets/{name}", status_code=204)
async def delete_preset(name: str, state: State, caller: CallerDep) -> Response:
    _require_tags(caller, state.db.get_preset(name))
    if not state.db.delete_preset(name):
        raise _unknown(name)
    return Response(status_code=204)
