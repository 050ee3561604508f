"""Trigger reloads: watch the manifest files, re-validate, swap the whole config at once.

An invalid change is logged and the previous Triggers stay in force; queued
deliveries are never touched by a reload (see Dispatcher.apply).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import watchfiles

from broker.manifests import BrokerConfig, ManifestError, load_config

logger = logging.getLogger(__name__)

WATCH_DEBOUNCE_MS = 150


class LiveConfig:
    """The config in force, its generation, and who to tell when it changes."""

    def __init__(
        self, config: BrokerConfig, paths: Sequence[Path], services: Mapping[str, str]
    ) -> None:
        self.current = config
        self.paths = list(paths)
        self.services = dict(services)
        self.generation = 1
        self.last_error: str | None = None
        self._listeners: list[Callable[[BrokerConfig], None]] = []

    def subscribe(self, listener: Callable[[BrokerConfig], None]) -> None:
        self._listeners.append(listener)

    def reload(self) -> bool:
        """Load the files again; on success swap and notify, else keep the current config."""
        try:
            config = load_config(self.paths, self.services)
        except ManifestError as exc:
            self.last_error = str(exc)
            logger.error(
                "manifest change rejected; the previous Triggers stay in force",
                extra={"error": str(exc)},
            )
            return False
        self.current = config
        self.generation += 1
        self.last_error = None
        for listener in self._listeners:
            listener(config)
        logger.info(
            "triggers reloaded",
            extra={"generation": self.generation, "triggers": sorted(config.triggers)},
        )
        return True


async def watch(live: LiveConfig, stop: asyncio.Event) -> None:
    """Reload whenever one of the manifest files is written, replaced or removed."""
    targets = {path.resolve() for path in live.paths}
    directories = sorted({str(path.parent) for path in targets})

    def relevant(_: watchfiles.Change, path: str) -> bool:
        return Path(path).resolve() in targets

    async for _ in watchfiles.awatch(
        *directories,
        watch_filter=relevant,
        stop_event=stop,
        debounce=WATCH_DEBOUNCE_MS,
        step=50,
        recursive=False,
    ):
        live.reload()
