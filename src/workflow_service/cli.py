"""The `workflow-service` command."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from workflow_service.config import Settings

app = typer.Typer(help="Run versioned workflows as durable jobs.", no_args_is_help=True, add_completion=False)

HostOpt = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind the server's socket before anything else happens, so a taken port (or an unknown host) is one
    line and a non-zero exit, never a banner for a server that does not start. Not listening yet: until the
    server serves, a connection is refused rather than left waiting."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        typer.echo(f"workflow-service: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        typer.echo(f"workflow-service: cannot listen on {host}:{port}: {reason}", err=True)
        raise typer.Exit(1) from None
    return sock


def _uvicorn(app_: Any, sock: socket.socket, host: str, access_log: bool, on_serving: Callable[[str], None]) -> None:
    """Serve `app_` on the bound `sock`; `on_serving(url)` runs once the app has started and the socket
    accepts connections."""
    import uvicorn

    from workflow_service.app import begin_shutdown

    port: int = sock.getsockname()[1]  # the one the system chose, for --port 0
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                on_serving(url)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            begin_shutdown(app_)  # uvicorn waits for every open connection to close before it stops
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(
        app_,
        host=host,
        port=port,
        access_log=access_log,
        proxy_headers=True,
        log_level="info",
        loop="uvloop",
        http="httptools",
    )
    Server(config).run(sockets=[sock])


@app.command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Run the API. Without WFS_REDIS_URL it also runs jobs in-process (the embedded mode)."""
    from workflow_service.app import create_app
    from workflow_service.migrate import upgrade

    settings = Settings()
    _logging(settings)
    if settings.admin_token is None:
        typer.echo("WFS_ADMIN_TOKEN is required for `serve` (use `workflow-service dev` to have one made).", err=True)
        raise typer.Exit(2)
    sock = _listen(host, port)
    if settings.database.url.startswith("sqlite"):
        upgrade(settings.database.url)

    def serving(url: str) -> None:
        typer.echo(f"workflow-service API on {url}")

    _uvicorn(create_app(settings), sock, host, access_log, serving)


@app.command()
def worker(
    pool: Annotated[list[str] | None, typer.Option("--pool", help="Pool to serve; repeatable.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once, per pool.")] = None,
    name: Annotated[str | None, typer.Option(help="Agent name (default host:pid).")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's metrics on GET /metrics at this port (docs/metrics.md).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface of the metrics port.")] = "127.0.0.1",
) -> None:
    """Run an arq worker (an agent) serving one or more pools. Needs WFS_REDIS_URL."""
    from workflow_service.observability import worker_port
    from workflow_service.worker.arq_worker import WorkerOptions, serve_worker

    settings = Settings()
    _logging(settings)
    if not settings.redis_url:
        typer.echo(
            "`worker` needs WFS_REDIS_URL; for a single process without Redis use `workflow-service dev`.", err=True
        )
        raise typer.Exit(2)
    pools = tuple(dict.fromkeys(pool or settings.worker.pools))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    options = WorkerOptions(
        pools=pools,
        concurrency=concurrency or settings.worker.concurrency,
        name=name,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    if metrics_port is not None:
        try:
            worker_port.check(settings)
        except worker_port.MetricsPortRefused as exc:
            typer.echo(f"workflow-service worker: {exc}", err=True)
            raise typer.Exit(2) from None
    asyncio.run(serve_worker(settings, options))


def _dev_value(settings: Settings, configured: SecretStr | None, filename: str, make: Callable[[], str]) -> str:
    """The configured value, or one made once and kept in $WFS_DATA_DIR/<filename> (mode 0600)."""
    if configured is not None:
        return configured.get_secret_value()
    path = settings.data_dir / filename
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = make()
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


def _dev_token(settings: Settings) -> str:
    return _dev_value(settings, settings.admin_token, "admin_token", lambda: "wfs_" + secrets.token_urlsafe(24))


def _dev_secret_key(settings: Settings) -> str:
    """WFS_SECRET_KEY, or a key made once and kept in $WFS_DATA_DIR/secret_key, like the admin token."""
    from workflow_service.core.secrets import new_key

    return _dev_value(settings, settings.secret_key, "secret_key", new_key)


async def _ensure_sample(settings: Settings) -> str:
    """Create and deploy the `hello` sample workflow unless it exists."""
    from workflow_service.audit.recorder import SYSTEM, Author, Entry
    from workflow_service.core.db import make_engine, unit_of_work
    from workflow_service.models import DEFAULT_WORKSPACE_ID
    from workflow_service.workflows import service as workflows
    from workflow_service.workflows.refs import ScopedRef
    from workflow_service.workflows.repository import get as get_workflow
    from workflow_service.workflows.schemas import WorkflowCreate

    definition = json.loads(resources.files("workflow_service.samples").joinpath("hello.json").read_text())
    engine = make_engine(settings.database.url)
    try:
        async with unit_of_work(engine) as uow:
            hello = ScopedRef("hello", DEFAULT_WORKSPACE_ID)
            if await get_workflow(uow.conn, hello) is None:
                made = await workflows.create(
                    uow.conn,
                    WorkflowCreate(
                        name="Hello", slug="hello", definition=definition, description="The sample workflow"
                    ),
                    "",
                    workflows.Creator(DEFAULT_WORKSPACE_ID),
                )
                deployed = await workflows.deploy(uow.conn, hello, "")
                author = Author(DEFAULT_WORKSPACE_ID, SYSTEM)
                for action, changes in (("workflow.created", None), ("workflow.deployed", deployed.changes)):
                    entry = Entry(
                        action=action,
                        description=f"{action.partition('.')[2]} the sample workflow 'hello'",
                        target_id=str(made.id),
                        target_name="hello",
                        workflow_id=made.id,
                        changes=changes,
                    )
                    await author.record(uow.conn, entry)
    finally:
        await engine.dispose()
    return "hello"


@app.command()
def dev(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    sample: Annotated[bool, typer.Option(help="Create and deploy the `hello` sample workflow.")] = True,
) -> None:
    """Everything in one process: API + worker, SQLite by default, admin token made for you."""
    from workflow_service.app import create_app
    from workflow_service.migrate import upgrade

    settings = Settings()
    _logging(settings)
    sock = _listen(host, port)
    token = _dev_token(settings)
    secret_key = _dev_secret_key(settings)
    settings = settings.model_copy(update={"admin_token": SecretStr(token), "secret_key": SecretStr(secret_key)})
    upgrade(settings.database.url)
    if sample:
        asyncio.run(_ensure_sample(settings))
    where = "SQLite at " + str(Path(settings.data_dir).resolve()) if settings.database_url is None else "database"

    def serving(url: str) -> None:
        typer.echo(f"""
workflow-service (dev, {where}) on {url}
  admin token: {token}
  dashboard:   {url}/ui  (sign in with the admin token)
  try it:
    curl -s -X POST {url}/v1/workflows/hello/versions/current/async \\
      -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{"inputs": {{"name": "Ada"}}}}'
    curl -s {url}/v1/jobs/<id from above> -H 'Authorization: Bearer {token}'
""")

    _uvicorn(create_app(settings, embedded_worker=settings.embedded), sock, host, True, serving)


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (they ship with the package)."""
    from workflow_service.migrate import upgrade

    settings = Settings()
    upgrade(settings.database.url, revision)
    typer.echo(f"database at {revision}")


async def _rotate_secrets(settings: Settings) -> str:
    from workflow_service.audit.recorder import Actor, Author, Entry
    from workflow_service.core.db import make_engine, unit_of_work
    from workflow_service.core.secrets import secrets_for
    from workflow_service.triggers import service as triggers
    from workflow_service.workflows import env

    engine = make_engine(settings.database.url)
    try:
        async with unit_of_work(engine) as uow:
            report = await env.rotate_all(uow.conn, secrets_for(settings))
            trigger_secrets = await triggers.reseal_all(uow.conn, secrets_for(settings))
            done = (
                f"{report.variables} secure variable(s) and {report.push_secrets} push secret(s) (and "
                f"{trigger_secrets} trigger secret(s)) with the newest key"
            )
            # Whoever runs the command holds the deployment's keys: the operator, in the deployment's log.
            operator = Author(None, Actor("admin", "operator"))
            described = f"re-encrypted {done} (`workflow-service rotate-secrets`)"
            await operator.record(uow.conn, Entry(action="settings.secrets_reencrypted", description=described))
    finally:
        await engine.dispose()
    return done


@app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every secure variable, push secret and trigger secret with the newest key in WFS_SECRET_KEY.

    To rotate: prepend a new key to WFS_SECRET_KEY (everywhere), run this, then drop the old key."""
    from workflow_service.core.secrets import SecretsError

    settings = Settings()
    _logging(settings)
    if settings.secret_key is None:
        typer.echo("`rotate-secrets` needs WFS_SECRET_KEY (the keys, newest first).", err=True)
        raise typer.Exit(2)
    try:
        done = asyncio.run(_rotate_secrets(settings))
    except SecretsError as exc:
        typer.echo(f"nothing was changed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"re-encrypted {done}")


@app.command()
def openapi() -> None:
    """Print the OpenAPI schema (JSON)."""
    from workflow_service.app import create_app

    schema = create_app(Settings(admin_token=SecretStr("unused"), database_url=None, redis_url=None)).openapi()
    typer.echo(json.dumps(schema, indent=2, sort_keys=True))


def main() -> None:
    app()
