"""`wfs jobs output --format`: a job's output, or one step's, downloaded as the service writes it as a file (json,
txt, md, pdf), onto stdout or into --out-file, against the real service (both modes)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pypdf import PdfReader

from tests.client.conftest import Service, deployed_greeter
from tests.client.servers import refusal, wait_for_status, wfs, wfs_env


def _completed(service: Service, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A completed job of a greeter workflow, named: its id, and wfs's environment."""
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    with service.client() as client:
        job = client.submit_async(slug, "current", {"inputs": {"name": "Zoë"}, "name": "Greeting for Zoë"})
    wait_for_status(service, job["id"], "completed")
    return job["id"], env


def test_each_format_is_downloaded(service: Service, tmp_path: Path) -> None:
    job_id, env = _completed(service, tmp_path)
    as_text = wfs(["jobs", "output", job_id, "--format", "txt"], env)
    assert (as_text.code, as_text.stdout) == (0, "greeting: Hello, Zoë!\n"), as_text
    as_json = wfs(["jobs", "output", job_id, "--format", "json"], env)
    assert json.loads(as_json.stdout) == {"greeting": "Hello, Zoë!"}

    md_file = tmp_path / "greeting.md"
    ran = wfs(["jobs", "output", job_id, "--format", "md", "--out-file", str(md_file)], env)
    assert (ran.code, ran.stdout) == (0, ""), ran
    assert md_file.read_text().startswith("# Greeting for Zoë\n\n- **Workflow:** greeter ")

    pdf_file = tmp_path / "greeting.pdf"
    ran = wfs(["jobs", "output", job_id, "--format", "pdf", "--out-file", str(pdf_file)], env)
    assert ran.code == 0, ran
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_file.read_bytes())).pages)
    assert "Greeting for Zoë" in text
    assert "greeting: Hello, Zoë!" in text

    step = wfs(["jobs", "output", job_id, "--step", "greet", "--format", "txt"], env)
    assert (step.code, step.stdout) == (0, "text: Hello, Zoë!\n"), step


def test_what_cannot_be_downloaded_is_refused(service: Service, tmp_path: Path) -> None:
    job_id, env = _completed(service, tmp_path)
    no_file = refusal(wfs(["jobs", "output", job_id, "--format", "pdf"], env))
    assert no_file == "--format pdf writes a file: give it with --out-file"
    unknown_step = refusal(wfs(["jobs", "output", job_id, "--step", "nope", "--format", "md"], env))
    assert unknown_step.startswith("404 "), unknown_step
    assert "has no step 'nope'" in unknown_step
    missing = refusal(wfs(["jobs", "output", "01a24828-0000-7000-8000-000000000000", "--format", "txt"], env))
    assert missing.startswith("404 "), missing
    bad = wfs(["jobs", "output", job_id, "--format", "docx"], env)
    assert bad.code == 2
    assert "docx" in bad.stderr
