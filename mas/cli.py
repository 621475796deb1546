"""`mas`: the operator command (start the service, manage app keys, migrate the database, run batch jobs)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

from sqlalchemy.engine import make_url

from api.scopes import ALL_SCOPES, PLATFORM_TENANT
from mas.batch_cli import add_batch_commands
from runtime.services import Services
from runtime.settings import Settings

T = TypeVar("T")

BANNER = """
MAS is running — Ray Serve application 'mas' on a local Ray cluster
  API            {{api}}
  API docs       {{api}}/docs
  Console        {{api}}/console   (sign in with an app key)
  Ray dashboard  {{dashboard}}   (token: ~/.ray/auth_token, sent as 'Authorization: Bearer <token>')
  Metrics        {{metrics}}   (Prometheus: Ray, Serve and the mas_* metrics)
  Data dir       {data_dir}
{key_lines}
Press Ctrl-C to stop (Serve and the local Ray cluster stop with it).
"""

DEV_KEY_LINES = """  Dev app key    {key}   (platform key '*', scopes: {scopes})
  Get a token:   curl -s -X POST {{api}}/v1/auth/token -H 'X-App-Key: {key}'"""

PROD_KEY_LINES = "  App keys:      create one with `mas keys create --name NAME --tenant ID|'*' --scopes ...`"


def _with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        services = await Services.open(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(run())


def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    # Read by Ray at import: under `uv run`, Ray would otherwise re-create the
    # environment in each worker from a copy of the checkout instead of using this one.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    # Serve's throughput mode (user code on the replica's own loop, lighter request path): the agent graph
    # makes ~15 handle calls a turn and measured 1.4-1.8x the turns/s with it (docs/benchmarks.md). Every
    # handle call here is made from async code, which the mode requires. Set it to 0 to opt out.
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    if args.proxy == "haproxy":
        # HAProxy in front of the replicas instead of Serve's Python proxy (see docs/benchmarks.md).
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
    from deployments.launcher import LaunchOptions, launch
    from mas.dev_key import ensure_dev_key

    embedded = settings.database_url is None
    key = _with_services(settings, ensure_dev_key) if embedded else None
    key_lines = DEV_KEY_LINES.format(key=key, scopes=",".join(ALL_SCOPES)) if key else PROD_KEY_LINES
    banner = BANNER.format(data_dir=settings.data_dir, key_lines=key_lines)
    options = LaunchOptions(
        config=Path(args.config) if args.config else settings.config_dir / "serve.yaml",
        host=args.host,
        port=args.port,
        dashboard_port=args.dashboard_port,
        metrics_port=args.metrics_port,
        address=args.address,
    )
    launch(options, settings, banner)
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown or not scopes:
        print(f"error: scopes must be a non-empty subset of {', '.join(ALL_SCOPES)} (unknown: {unknown})", file=sys.stderr)
        return 2
    issued = _with_services(settings, lambda s: s.app_keys.create(args.name, args.tenant, scopes))
    print(f"key_id:  {issued.record.key_id}\ntenant:  {args.tenant}\nscopes:  {','.join(issued.record.scopes)}")
    print(f"app key: {issued.key}\n(shown once: only its hash is stored)")
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    for key in _with_services(settings, lambda s: s.app_keys.list()):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.key_id}  mas_{key.prefix}_…  {key.name:<16} tenant={key.tenant_id:<12} {','.join(key.scopes)}  {state}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    if not _with_services(settings, lambda s: s.app_keys.revoke(args.key_id)):
        print(f"error: no active key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    _with_services(settings, lambda s: asyncio.sleep(0))  # opening the services migrates to head
    print(f"database at head: {make_url(settings.effective_database_url).render_as_string(hide_password=True)}")
    return 0


def cmd_db_revision(args: argparse.Namespace, settings: Settings) -> int:
    from store.migrate import new_revision

    print(f"wrote {new_revision(args.message)}: review it, then commit it with the model change")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mas", description="MAS operator command. Settings: MAS_* environment variables.")
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="start a local Ray cluster and deploy configs/serve.yaml")
    start.add_argument("--config", help="Serve config (default: $MAS_CONFIG_DIR/serve.yaml)")
    start.add_argument("--host", help="override http_options.host")
    start.add_argument("--port", type=int, help="override http_options.port")
    start.add_argument("--dashboard-port", type=int, default=8265)
    start.add_argument("--metrics-port", type=int, default=8080, help="Ray's Prometheus endpoint (local cluster only)")
    start.add_argument("--address", default="local", help="'local' (new cluster, default), 'auto' or a Ray address")
    start.add_argument(
        "--proxy", choices=["serve", "haproxy"], default="serve",
        help="HTTP proxy: Serve's own (default) or the bundled HAProxy (lower per-request overhead)",
    )
    start.set_defaults(func=cmd_start)

    keys = sub.add_parser("keys", help="app keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an app key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--tenant", required=True, help=f"a tenant id, or '{PLATFORM_TENANT}' for a platform key")
    create.add_argument("--scopes", required=True, help=f"comma-separated: {','.join(ALL_SCOPES)}")
    create.set_defaults(func=cmd_keys_create)
    keys.add_parser("list", help="list app keys").set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", help="revoke an app key")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_keys_revoke)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    revision = db.add_parser("revision", help="autogenerate the next migration from the models (developers)")
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(func=cmd_db_revision)
    add_batch_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args, Settings())


if __name__ == "__main__":
    raise SystemExit(main())
