"""The configurations `make bench` measures: the baselines and ours, each a function
that starts its servers, measures, and stops them."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import results as r
from bench.runner import BenchSettings, Load, saturate
from bench.servers import server_group


@dataclass(frozen=True)
class Context:
    settings: BenchSettings
    work_root: Path
    log: Callable[[str], None]
    keep_dirs: bool = False
    done: list[r.ConfigResult] = field(default_factory=list)
    """Results measured so far in this bench run (later scenarios may adapt to them)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    kind: r.Kind
    needs: Sequence[str]
    """Modules that must exist (`audit.app`, ...): missing ones skip the scenario."""
    run: Callable[[Context], list[r.ConfigResult]]

    def missing(self) -> list[str]:
        return [module for module in self.needs if importlib.util.find_spec(module) is None]


BINARY = Load("binary.lua", lambda run_id: [run_id], connections=64)
BATCH_SIZE = 100
BATCH = Load(
    "batch.lua",
    lambda run_id: [run_id, str(BATCH_SIZE)],
    connections=16,
    events_per_request=BATCH_SIZE,
)


def _single_server(
    name: str,
    label: str,
    kind: r.Kind,
    module: str,
    load: Load,
    *,
    unit: str,
    setup: str,
    env: dict[str, str] | None = None,
    needs: Sequence[str] = (),
) -> Scenario:
    """One server process pinned to the server CPUs, saturated by wrk."""

    def run(ctx: Context) -> list[r.ConfigResult]:
        with server_group(ctx.work_root, name, keep=ctx.keep_dirs) as group:
            server = group.start(name, module, env=env, cpus=ctx.settings.server_cpus)
            runs = saturate(server.url, load, [server], ctx.settings, prefix=name, log=ctx.log)
        return [r.ConfigResult(name, label, kind, unit, runs, setup=setup)]

    return Scenario(name, label, kind, needs or (module,), run)


def _connections(load: Load) -> str:
    return f"wrk -t1 -c{load.connections}, {load.script}"


def baseline_scenarios() -> list[Scenario]:
    return [
        _single_server(
            "ceiling",
            "Ceiling: Starlette, read body, 204",
            "baseline",
            "bench.baselines.ceiling",
            BINARY,
            unit="events/s",
            setup=f"uvicorn 1 worker; {_connections(BINARY)}",
        ),
        _single_server(
            "ceiling-batch",
            f"Ceiling, {BATCH_SIZE}-event batch bodies",
            "baseline",
            "bench.baselines.ceiling",
            BATCH,
            unit="events/s",
            setup=f"uvicorn 1 worker; {_connections(BATCH)}",
        ),
        _single_server(
            "flask",
            "Tutorial receiver: Flask + SDK v1 from_http",
            "baseline",
            "bench.baselines.flask_tutorial",
            BINARY,
            unit="events/s",
            setup=f"Flask app.run (threaded dev server); {_connections(BINARY)}",
        ),
        _single_server(
            "sdk",
            "SDK 2.x from_http_event in Starlette, no storage",
            "baseline",
            "bench.baselines.sdk_parse",
            BINARY,
            unit="events/s",
            setup=f"uvicorn 1 worker; {_connections(BINARY)}",
        ),
    ]


def audit_scenarios() -> list[Scenario]:
    return [
        _single_server(
            "audit-binary",
            "audit: binary mode, 1 event/request, SQLite FULL",
            "ours",
            "audit",
            BINARY,
            unit="events/s",
            setup=f"python -m audit; {_connections(BINARY)}",
            needs=("audit.app",),
        ),
        _single_server(
            "audit-batch",
            f"audit: batch mode, {BATCH_SIZE} events/request, SQLite FULL",
            "ours",
            "audit",
            BATCH,
            unit="events/s",
            setup=f"python -m audit; {_connections(BATCH)}",
            needs=("audit.app",),
        ),
    ]


def all_scenarios() -> list[Scenario]:
    from bench.broker_scenario import broker_scenario
    from bench.e2e import e2e_scenarios

    return [*baseline_scenarios(), *audit_scenarios(), broker_scenario(), *e2e_scenarios()]
