"""What a scenario needs from the system under test, whichever way it runs."""

from __future__ import annotations

from typing import Literal, Protocol


class Target(Protocol):
    """A running user/broker/audit system seen from outside.

    URLs have no trailing slash. `broker_ingress_url` is the Broker's full ingress address
    (`.../<namespace>/<broker>`), where a CloudEvent can be posted as any producer would.
    """

    kind: Literal["local", "cluster"]
    user_url: str
    audit_url: str
    broker_ingress_url: str
    #: `source` of the events the user service emits.
    event_source: str
    #: Bearer token for the user admin API / audit read API, when the system sets one.
    user_admin_token: str | None
    audit_read_token: str | None

    def stop_audit(self) -> None:
        """Audit unreachable until `start_audit` (process stopped / scaled to 0, pods gone)."""

    def start_audit(self, *, wait: bool = True) -> None:
        """Bring audit back; with `wait`, return once it is ready (else see `wait_audit`)."""

    def wait_audit(self) -> None:
        """Until audit is ready again after `start_audit(wait=False)`."""

    def audit_up(self) -> bool:
        """Whether audit can take a delivery right now (a ready process / pod)."""

    def stop_broker(self) -> None:
        """The broker ingress unreachable for the user service until `start_broker`."""

    def start_broker(self) -> None:
        """The broker ingress back and ready."""

    def ensure_running(self) -> None:
        """Bring back whatever a previous (failed) scenario left stopped."""

    def audit_metrics(self) -> list[str]:
        """The Prometheus text of every audit instance (one per process or pod)."""

    def collect_logs(self) -> str:
        """Every log line the system wrote during the session (all processes / pods)."""

    def diagnostics(self) -> str:
        """What a human needs when a scenario fails: states and the last log lines."""

    def close(self) -> None:
        """Stop what the suite started (local processes, port-forwards)."""
