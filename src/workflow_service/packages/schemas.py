"""What the import routes answer: the workflow as imported, and a report of what the import did (or, for a dry
run, would do); a workflow's backups."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflow_service.errors import ProblemItem
from workflow_service.packages.conflicts import EnvConflict
from workflow_service.packages.diff import DefinitionDiff
from workflow_service.workflows.schemas import WorkflowRead


class PackageOrigin(BaseModel):
    """Where the package came from, as it says."""

    workflow: str = Field(description="The slug of the workflow it was exported from.")
    version: int | Literal["draft"]
    format_version: int


class EnvReport(BaseModel):
    """What the import does to the environment variables, by name."""

    added: list[str] = Field(description="In the package only: created.")
    overwritten: list[str] = Field(description="Conflicts resolved `overwrite`: replaced by the package's.")
    kept: list[str] = Field(
        description="Left as they are: only in the workflow, the same in both, conflicts resolved `keep`, and "
        "those the package has as secure without a value."
    )
    needs_value: list[str] = Field(
        description="Secure in the package without a value (exported without a passphrase), and not in the "
        "workflow: not created; set them with PUT /v1/workflows/{workflow}/env/{name}."
    )
    conflicts: list[EnvConflict] = Field(description="Those whose value or secure flag differ, and how resolved.")


class BackupRead(BaseModel):
    id: uuid.UUID
    file_name: str = Field(description="`Exported_<Workflow Name>.zip`.")
    size: int = Field(description="Bytes.")
    created_at: datetime
    created_by: str = Field(description="Who imported over the draft it holds: `admin`, `user:<id>`, `key:<id>`.")


class BackupList(BaseModel):
    items: list[BackupRead] = Field(description="Newest first.")


class ImportReport(BaseModel):
    dry_run: bool = Field(description="true: nothing was changed; this is what the import would do.")
    origin: PackageOrigin
    definition: DefinitionDiff | None = Field(
        description="How the draft changes (an import into an existing workflow); null for a new workflow."
    )
    draft_problems: list[ProblemItem] = Field(
        description="Why the imported draft could not be deployed here yet (say, a `workflow` step naming a workflow "
        "this workspace lacks); it must be deployed to run either way."
    )
    env: EnvReport
    settings_applied: bool = Field(
        description="Whether the package's endpoint settings were applied: for a new workflow; an existing one "
        "keeps its own, which its deployed versions run with."
    )
    push_left_disabled: bool = Field(
        description="The package had push enabled; the new workflow's push stays off until it is given an access "
        "token (never in a package) and enabled."
    )
    backup: BackupRead | None = Field(description="The backup of the draft the import replaced, when asked for.")


class WorkflowImport(BaseModel):
    workflow: WorkflowRead | None = Field(
        description="The workflow with its new draft; null for a dry run of a new one."
    )
    report: ImportReport
