"""The three services on this machine, wired the way a cluster wires them.

- `python -m devstack` (`make run`): broker, audit and user on fixed ports with
  prefixed, interleaved logs until Ctrl-C (devstack.supervisor).
- `LocalStack`: the same three on free ports with temporary data, for tests and
  the bench; `ServiceProcess`: one service as a process.
- `wiring`: the variables that connect them (K_SINK, BROKER_SERVICES, ...),
  written once for both.
"""

from devstack.local import FAST_HASHING, FAST_RELAY, LocalStack, new_token
from devstack.processes import REPO, ServiceProcess, free_port
from devstack.wiring import BROKER_MANIFESTS, SERVICES, broker_address, service_url, wiring

__all__ = [
    "BROKER_MANIFESTS",
    "FAST_HASHING",
    "FAST_RELAY",
    "REPO",
    "SERVICES",
    "LocalStack",
    "ServiceProcess",
    "broker_address",
    "free_port",
    "new_token",
    "service_url",
    "wiring",
]
