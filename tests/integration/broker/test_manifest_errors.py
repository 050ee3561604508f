"""A manifest the broker cannot honour stops it with file, object and field named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack import REPO, free_port
from tests.integration.broker.conftest import broker_doc, trigger_doc, write_manifest


def _trigger_with(**spec: Any) -> dict[str, Any]:
    doc = trigger_doc("bad", "http://127.0.0.1:9/")
    doc["spec"].update(spec)
    return doc


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        (_trigger_with(unknownField=1), "spec.unknownField", "not a field"),
        (
            _trigger_with(filters=[{"exact": {"type": "a"}, "suffix": {"type": "b"}}]),
            "spec.filters[0]",
            "multiple dialects",
        ),
        (_trigger_with(filters=[{"cesql": "type = "}]), "spec.filters[0].cesql", "CESQL"),
        (
            _trigger_with(delivery={"retryAfterMax": "PT1S"}),
            "spec.delivery.retryAfterMax",
            "alpha",
        ),
        (
            _trigger_with(subscriber={"ref": {"apiVersion": "v1", "kind": "Service", "name": "x"}}),
            "spec.subscriber.ref",
            "BROKER_SERVICES",
        ),
    ],
)
def test_broker_refuses_to_start(
    tmp_path: Path, doc: dict[str, Any], field: str, words: str
) -> None:
    manifest = tmp_path / "triggers.yaml"
    write_manifest(manifest, [broker_doc(), doc])
    env = {
        **os.environ,
        "BROKER_MANIFESTS": str(manifest),
        "DATA_DIR": str(tmp_path),
        "PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "broker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    message = result.stderr
    assert str(manifest) in message
    assert "Trigger test-ns/bad" in message
    assert field in message
    assert words in message
