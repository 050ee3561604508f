"""Disk full: audit's SQLite database on a 4 MiB tmpfs that the test fills up.

While full: the sink answers 503 (so the broker keeps the events and retries),
`/readyz` says not ready, nothing crashes. After the filler is deleted, delivery resumes
by itself and every event that was acknowledged anywhere (201 by user, 202 by the
broker or by the sink) is in audit exactly once.

Bounded by the broker's retry budget on purpose: k8s/broker.yaml gives a delivery
6 attempts over about 15 s before the dead-letter sink, which is audit too; the disk
is freed well inside that window (docs/reliability.md discusses longer outages).
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import LocalStack
from tests.chaos import report
from tests.chaos.harness import (
    DIRECT_SOURCE,
    STORE_USER,
    AuditView,
    bugs_logged,
    in_flight,
    metric_total,
)
from tests.e2e.polling import wait_until
from tests.support.secrets_scan import SecretSet, assert_clean, scan_paths

FS_SIZE = "4m"
#: An event large enough that a few hundred of them outgrow the whole filesystem.
PAYLOAD = b'{"id":"%s","pad":"' + b"x" * 4000 + b'"}'


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A size-limited tmpfs (root only), unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE},mode=0755", "tmpfs", str(mount_point)],
        check=True,
        capture_output=True,
    )
    try:
        yield mount_point
    finally:
        result = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if result.returncode != 0:  # a process still holds a file: detach it anyway
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem refuses more bytes."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (64 * 1024, 4096, 512):
            block = b"\0" * chunk
            while True:
                try:
                    out.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler


def sink_event(client: httpx.Client, url: str, event_id: str) -> int:
    """POST one binary-mode event to `url`; the status code."""
    return client.post(
        url,
        content=PAYLOAD % event_id.encode(),
        headers={
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": DIRECT_SOURCE,
            "ce-type": STORE_USER,
            "ce-subject": event_id,
            "content-type": "application/json",
        },
    ).status_code


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_audit_disk_full_then_freed(tmp_path: Path, small_fs: Path) -> None:
    secrets = SecretSet()
    password = secrets.password("disk-full user password")
    stack = LocalStack(tmp_path / "stack", data_dirs={"audit": small_fs})
    with stack, httpx.Client(timeout=10) as client:
        sink = stack.audit_url + "/"
        acked: set[str] = set()  # 202 from the sink or the broker: must be in audit
        users: set[str] = set()

        def create_user() -> None:
            response = client.post(
                f"{stack.user_url}/v1/user",
                json={"name": f"disk-{uuid.uuid4().hex[:8]}", "password": password},
            )
            assert response.status_code == 201, response.text
            users.add(response.json()["id"])

        for _ in range(5):
            create_user()
        filler = fill(small_fs)
        full_at = time.monotonic()

        # The WAL may still have room it allocated earlier: write until the store refuses.
        statuses: list[int] = []
        for _ in range(2000):
            event_id = str(uuid.uuid4())
            status = sink_event(client, sink, event_id)
            statuses.append(status)
            if status == 202:
                acked.add(event_id)
            elif status == 503:
                break
            else:
                pytest.fail(f"the sink answered {status} on a full disk (want 202 or 503)")
        assert statuses[-1] == 503, "the sink never noticed the full disk"
        accepted_while_filling = len(statuses) - 1

        # While full: more events arrive through user and broker; both acknowledge them.
        for _ in range(10):
            create_user()
        for _ in range(10):
            event_id = str(uuid.uuid4())
            assert sink_event(client, stack.ingress_url, event_id) == 202
            acked.add(event_id)
        # The broker has met the 503s and retried (it keeps the events, it drops nothing) ...
        wait_until(
            lambda: metric_total(
                client.get(stack.broker.url + "/metrics").text,
                "broker_trigger_events_total",
                response_code="503",
            ),
            lambda n: n >= 40,  # 20 first attempts, then retries
            timeout=10,
            what="the broker retrying against the full audit",
        )
        # ... the sink still refuses, audit says it is not ready, and nothing crashed.
        assert sink_event(client, sink, str(uuid.uuid4())) == 503
        readyz = client.get(stack.audit_url + "/readyz")
        healthz = client.get(stack.audit_url + "/healthz")
        processes_alive = {
            n: p.process is not None and p.process.poll() is None
            for n, p in stack.processes.items()
        }
        assert processes_alive == {"broker": True, "audit": True, "user": True}
        assert healthz.status_code == 200

        filler.unlink()
        freed_at = time.monotonic()
        full_seconds = freed_at - full_at

        def settled() -> tuple[AuditView, dict[str, float]]:
            return AuditView.read(stack, client), in_flight(stack, client)

        view, _ = wait_until(
            settled,
            lambda s: (
                users <= set(s[0].subjects(stack.event_source))
                and acked <= set(s[0].subjects(DIRECT_SOURCE))
                and not any(s[1].values())
            ),
            timeout=60,
            what="delivery resumed after the disk was freed",
            describe=lambda s: (
                f"missing users={len(users - set(s[0].subjects(stack.event_source)))}"
                f" events={len(acked - set(s[0].subjects(DIRECT_SOURCE)))} in flight={s[1]}"
            ),
            retry_on=(httpx.HTTPError,),
            interval=0.2,
        )
        recovered = time.monotonic() - freed_at
        wait_until(
            lambda: client.get(stack.audit_url + "/readyz").status_code,
            lambda code: code == 200,
            timeout=15,
            what="audit ready again",
        )
        duplicates = sum(n - 1 for n in view.keys.values() if n > 1) + sum(
            n - 1 for n in view.subjects(stack.event_source).values() if n > 1
        )
        stats = client.get(f"{stack.audit_url}/v1/stats", headers=stack.audit_headers()).json()
        figures = {
            "accepted_before_refusing": accepted_while_filling,
            "full_seconds": round(full_seconds, 1),
            "readyz_while_full": readyz.status_code,
            "events_checked": len(users) + len(acked),
            "duplicates": duplicates,
            "dead_letters": stats["dead_letters"],
            "time_to_recover_seconds": round(recovered, 2),
        }
        report.record("chaos", "disk_full", figures)
        print(figures)
        assert duplicates == 0
        assert stats["dead_letters"] == 0
        assert not bugs_logged(stack), bugs_logged(stack)
        assert readyz.status_code == 503, (
            f"/readyz answered {readyz.status_code} on a full disk: {readyz.text}"
        )
        assert_clean(scan_paths([*stack.log_paths(), *stack.data_files()], secrets))
