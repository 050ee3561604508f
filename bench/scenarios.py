"""The configurations `make bench` measures: the baselines and ours, each a function
that starts its servers, measures, and stops them."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench import results as r
from bench.diagnostics import audit_notes, scrape
from bench.runner import BenchSettings, Load, describe_run, saturate, saturated_run, warm_up
from bench.servers import Server, ServerGroup, server_group


@dataclass(frozen=True)
class Context:
    settings: BenchSettings
    work_root: Path
    log: Callable[[str], None]
    keep_dirs: bool = False
    done: list[r.ConfigResult] = field(default_factory=list)
    """Results measured so far in this bench run (later scenarios may adapt to them)."""

    def servers(self, name: str) -> AbstractContextManager[ServerGroup]:
        """A fresh group of servers for one configuration, in its own temp dir."""
        return server_group(
            self.work_root, name, keep=self.keep_dirs, niceness=self.settings.niceness
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    kind: r.Kind
    needs: Sequence[str]
    """Modules that must exist (`audit.app`, ...): missing ones skip the scenario."""
    run: Callable[[Context], list[r.ConfigResult]]
    single: SingleServer | None = None
    """Set for one-server wrk configurations, which can be measured interleaved."""

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


@dataclass(frozen=True)
class SingleServer:
    """One server process pinned to the server CPUs, saturated by one wrk load."""

    name: str
    label: str
    kind: r.Kind
    module: str
    load: Load
    unit: str
    setup: str
    env: dict[str, str] | None = None
    diagnose: Callable[[Server], list[str]] | None = None
    """Notes from the server itself after the runs (its /metrics)."""

    def start(self, group: ServerGroup, ctx: Context) -> Server:
        return group.start(self.name, self.module, env=self.env, cpus=ctx.settings.server_cpus)

    def notes(self, server: Server) -> list[str]:
        return self.diagnose(server) if self.diagnose else []

    def result(self, runs: list[dict[str, float]], notes: Sequence[str]) -> r.ConfigResult:
        return r.ConfigResult(
            self.name, self.label, self.kind, self.unit, runs, notes=tuple(notes), setup=self.setup
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
    diagnose: Callable[[Server], list[str]] | None = None,
) -> Scenario:
    single = SingleServer(name, label, kind, module, load, unit, setup, env, diagnose)

    def run(ctx: Context) -> list[r.ConfigResult]:
        with ctx.servers(name) as group:
            server = single.start(group, ctx)
            runs = saturate(server.url, load, [server], ctx.settings, prefix=name, log=ctx.log)
            notes = single.notes(server)
        return [single.result(runs, notes)]

    return Scenario(name, label, kind, needs or (module,), run, single)


def run_interleaved(singles: Sequence[SingleServer], ctx: Context) -> list[r.ConfigResult]:
    """Start every server, warm each up, then take run 1 of each, run 2 of each, ...

    On a machine that other work shares, load comes and goes; interleaving spreads
    that over all configurations instead of letting it land on one, which keeps the
    ratios between them honest. Idle servers cost nothing measurable meanwhile.
    """
    settings = ctx.settings
    runs: dict[str, list[dict[str, float]]] = {single.name: [] for single in singles}
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for single in singles:
            group = stack.enter_context(ctx.servers(single.name))
            servers[single.name] = single.start(group, ctx)
        ctx.log(f"- started {', '.join(servers)}; warming up")
        for single in singles:
            warm_up(servers[single.name].url, single.load, settings, prefix=single.name)
        for index in range(settings.runs):
            for single in singles:
                server = servers[single.name]
                metrics = saturated_run(
                    server.url, single.load, [server], settings, prefix=single.name
                )
                ctx.log(f"    {single.name:14} run {index + 1}: {describe_run(metrics)}")
                runs[single.name].append(metrics)
        notes = {single.name: single.notes(servers[single.name]) for single in singles}
    return [single.result(runs[single.name], notes[single.name]) for single in singles]


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


def _audit_notes(server: Server) -> list[str]:
    return audit_notes(scrape(server.url))


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
            env={"AUDIT_READ_OPEN": "true"},
            diagnose=_audit_notes,
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
            env={"AUDIT_READ_OPEN": "true"},
            diagnose=_audit_notes,
        ),
    ]


def all_scenarios() -> list[Scenario]:
    from bench.broker_scenario import broker_scenario
    from bench.e2e import e2e_scenarios

    return [*baseline_scenarios(), *audit_scenarios(), broker_scenario(), *e2e_scenarios()]
