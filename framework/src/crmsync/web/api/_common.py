"""What the API routes share: the workspace dependency and path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from crmsync.operations import Workspace
from crmsync.web._backend import workspace

__all__ = ["NamePath", "Ws"]

Ws = Annotated[Workspace, Depends(workspace)]
NamePath = Annotated[
    str,
    Path(
        description="The integration's name.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    ),
]
