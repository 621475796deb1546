"""`mas batch`: submit a JSONL file as a batch and follow it with a progress bar, read a batch's progress, stream its
results, cancel it. A client of the HTTP API (``--api``, default ``MAS_PUBLIC_URL``), authenticated by an app key
(``--key`` or ``MAS_APP_KEY``, else the dev key in the data dir); also runnable as a Ray job against a cluster
(``ray job submit -- mas batch submit ...``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from runtime.settings import Settings

FINISHED = ("completed", "failed", "cancelled")


class BatchClient:
    def __init__(self, api: str, key: str, tenant: str | None) -> None:
        self._http = httpx.Client(base_url=api, timeout=60)
        token = self._http.post("/v1/auth/token", headers={"X-App-Key": key})
        _raise_for(token)
        self._headers = {"Authorization": f"Bearer {token.json()['access_token']}", **({"X-Tenant-ID": tenant} if tenant else {})}

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._http.request(method, url, headers=self._headers, **kwargs)
        _raise_for(response)
        return response.json()

    def lines(self, url: str) -> Any:
        with self._http.stream("GET", url, headers=self._headers) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            yield from response.iter_lines()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise SystemExit(f"error {response.status_code}: {response.text[:2000]}")


def _client(args: argparse.Namespace, settings: Settings) -> BatchClient:
    key = args.key or os.environ.get("MAS_APP_KEY")
    if not key:
        dev_key = settings.data_dir / "dev_app_key"
        if not dev_key.exists():
            raise SystemExit("no app key: pass --key or set MAS_APP_KEY")
        key = dev_key.read_text().strip()
    return BatchClient(args.api or settings.public_url, key, args.tenant)


def _read_items(path: Path) -> list[Any]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def follow(client: BatchClient, batch_id: str, every_s: float = 0.5) -> dict[str, Any]:
    """Polls the batch's progress, drawn as a progress bar, until it finishes; returns the last progress."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(batch_id[:8], total=None, rate="")
        while True:
            state = client.call("GET", f"/v1/batches/{batch_id}")
            rate = f"{state['items_per_s']:.1f} items/s" if state["items_per_s"] else ""
            bar.update(task, total=state["total"], completed=state["done"] + state["failed"], rate=rate,
                       description=f"{batch_id[:8]} {state['state']}")
            if state["state"] in FINISHED:
                return state
            time.sleep(every_s)


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(args, settings)
    options = dict(option.split("=", 1) for option in args.option)
    accepted = client.call("POST", "/v1/batches", json={"kind": args.kind, "items": _read_items(args.file), "options": options})
    print(json.dumps(accepted, ensure_ascii=False))
    if args.follow:
        final = follow(client, accepted["batch_id"])
        print(json.dumps({key: final[key] for key in ("batch_id", "state", "total", "done", "failed", "summary")}, ensure_ascii=False))
        return 0 if final["state"] == "completed" else 1
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(_client(args, settings).call("GET", f"/v1/batches/{args.batch_id}"), ensure_ascii=False, indent=2))
    return 0


def cmd_results(args: argparse.Namespace, settings: Settings) -> int:
    for line in _client(args, settings).lines(f"/v1/batches/{args.batch_id}/results"):
        sys.stdout.write(line + "\n")
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(_client(args, settings).call("POST", f"/v1/batches/{args.batch_id}/cancel"), ensure_ascii=False))
    return 0


def add_batch_commands(sub: Any) -> None:
    batch = sub.add_parser("batch", help="batch jobs over the HTTP API").add_subparsers(dest="batch_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", help="the API's base URL (default: MAS_PUBLIC_URL)")
    common.add_argument("--key", help="an app key (default: MAS_APP_KEY, else the dev key of the data dir)")
    common.add_argument("--tenant", help="X-Tenant-ID, for a platform key")
    submit = batch.add_parser("submit", parents=[common], help="submit a JSONL file (one item per line)")
    submit.add_argument("file", type=Path)
    submit.add_argument("--kind", required=True, help="social.comment|social.reply|social.keywords|social.beautify|campaign|evaluate")
    submit.add_argument("--option", action="append", default=[], help="KEY=VALUE batch option, e.g. agent=compliance")
    submit.add_argument("--follow", action="store_true", help="show a progress bar until the batch finishes")
    submit.set_defaults(func=cmd_submit)
    for name, func, what in (("status", cmd_status, "a batch's progress"), ("results", cmd_results, "its NDJSON results"),
                             ("cancel", cmd_cancel, "cancel it")):
        command = batch.add_parser(name, parents=[common], help=what)
        command.add_argument("batch_id")
        command.set_defaults(func=func)
