"""`ScopedRef`: a workflow as a request names it (an id or a slug), in the workspace the request acts in."""

from __future__ import annotations

import uuid


class ScopedRef(str):
    """The id or slug a route received (the string itself, so that messages quote it as given), with the
    workspace to find it in. Every lookup of a workflow by a name from outside takes one: a slug is unique only
    within its workspace, and another workspace's workflow is not found, exactly like a missing one."""

    workspace_id: uuid.UUID

    def __new__(cls, ref: str, workspace_id: uuid.UUID) -> ScopedRef:
        made = super().__new__(cls, ref)
        made.workspace_id = workspace_id
        return made

    def __reduce__(self) -> tuple[type[ScopedRef], tuple[str, uuid.UUID]]:
        return ScopedRef, (str(self), self.workspace_id)
