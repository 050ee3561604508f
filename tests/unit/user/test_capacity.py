"""How many password hashes run at once: read from cgroup v2 files the tests write
(laid out as a container and as a systemd slice see them), and the Deployment's own
setting checked against its limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from user.capacity import (
    BASE_MEMORY_BYTES,
    CgroupLimits,
    default_hash_concurrency,
    read_cgroup_limits,
)
from user.settings import UserSettings

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[3]


def cgroup(tmp_path: Path, path: str, files: dict[str, dict[str, str]]) -> tuple[Path, Path]:
    """A cgroup v2 tree under tmp_path: `files` maps a cgroup path to its files; the
    process is in `path`. Returns (root, /proc/self/cgroup)."""
    root = tmp_path / "sys-fs-cgroup"
    root.mkdir()
    for directory, contents in files.items():
        target = root / directory.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        for name, text in contents.items():
            (target / name).write_text(text)
    (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(f"0::{path}\n")
    return root, self_cgroup


def test_a_container_with_its_own_namespace_reads_the_root_files(tmp_path: Path) -> None:
    root, self_cgroup = cgroup(
        tmp_path, "/", {"/": {"cpu.max": "150000 100000\n", "memory.max": "536870912\n"}}
    )
    assert read_cgroup_limits(root, self_cgroup) == CgroupLimits(1.5, 512 * MIB)


def test_the_tightest_limit_of_the_cgroup_and_its_parents_wins(tmp_path: Path) -> None:
    root, self_cgroup = cgroup(
        tmp_path,
        "/kubepods.slice/pod1/container",
        {
            "/kubepods.slice": {"cpu.max": "max 100000\n", "memory.max": "8589934592\n"},
            "/kubepods.slice/pod1": {"cpu.max": "200000 100000\n", "memory.max": "max\n"},
            "/kubepods.slice/pod1/container": {
                "cpu.max": "max 100000\n",
                "memory.max": str(384 * MIB),
            },
        },
    )
    assert read_cgroup_limits(root, self_cgroup) == CgroupLimits(2.0, 384 * MIB)


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"/": {"cpu.max": "max 100000\n", "memory.max": "max\n"}},
        {"/": {"cpu.max": "garbage\n", "memory.max": "-1\n"}},
        {"/": {"cpu.max": "0 100000\n", "memory.max": "\n"}},
    ],
)
def test_no_limit_or_an_unreadable_one_is_no_limit(
    tmp_path: Path, files: dict[str, dict[str, str]]
) -> None:
    root, self_cgroup = cgroup(tmp_path, "/", files)
    assert read_cgroup_limits(root, self_cgroup) == CgroupLimits()


def test_cgroup_v1_or_no_proc_gives_no_limits(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    v1.write_text("4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n")
    assert read_cgroup_limits(tmp_path, v1) == CgroupLimits()
    assert read_cgroup_limits(tmp_path, tmp_path / "missing") == CgroupLimits()


@pytest.mark.parametrize(
    ("limits", "cpus", "expected"),
    [
        # The reported case: an 8-CPU node, a pod of 1 CPU and 512 MiB.
        (CgroupLimits(1.0, 512 * MIB), 8, 1),
        # CPU quota rounds up; memory then bounds: (512 - 128) / 64 = 6.
        (CgroupLimits(7.5, 512 * MIB), 8, 6),
        (CgroupLimits(0.5, None), 8, 1),
        (CgroupLimits(None, None), 8, 8),
        (CgroupLimits(None, 2048 * MIB), 4, 4),
        # Too little memory for even one hash beside the service: still one, not zero.
        (CgroupLimits(4.0, 150 * MIB), 8, 1),
    ],
)
def test_default_concurrency_fits_the_limits(
    limits: CgroupLimits, cpus: int, expected: int
) -> None:
    assert default_hash_concurrency(limits, 64 * 1024, cpus) == expected


def test_explicit_setting_wins_over_the_derived_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASH_CONCURRENCY", "3")
    assert UserSettings().hashes_at_once == 3
    monkeypatch.delenv("HASH_CONCURRENCY")
    assert UserSettings().hashes_at_once >= 1


def _quantity(text: str) -> int:
    units = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def _cpu(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_the_deployment_runs_no_more_hashes_than_its_limits_hold() -> None:
    documents = list(yaml.safe_load_all((REPO / "k8s/user/deployment.yaml").read_text()))
    container: dict[str, Any] = documents[0]["spec"]["template"]["spec"]["containers"][0]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert "HASH_CONCURRENCY" in env, "the Deployment must not leave it to the node's CPUs"
    limits = container["resources"]["limits"]
    memory_kib = int(env.get("ARGON2_MEMORY_KIB") or 64 * 1024)
    allowed = default_hash_concurrency(
        CgroupLimits(_cpu(str(limits["cpu"])), _quantity(str(limits["memory"]))),
        memory_kib,
        cpus_available=1024,
    )
    concurrency = int(env["HASH_CONCURRENCY"])
    assert 1 <= concurrency <= allowed
    assert BASE_MEMORY_BYTES + concurrency * memory_kib * 1024 <= _quantity(limits["memory"])
    assert int(env["HASH_QUEUE_LIMIT"]) >= 1
