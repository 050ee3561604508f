"""How `make run` and LocalStack connect the services (no process is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import REPO, broker_address, wiring
from devstack.supervisor import plan

PORTS = {"user": 3101, "audit": 3102, "broker": 3103}


def test_user_sends_to_the_ingress_of_the_manifests_broker() -> None:
    namespace, name = broker_address()
    wired = wiring(PORTS, [REPO / "k8s/broker.yaml", REPO / "k8s/triggers.yaml"])
    assert wired["user"]["K_SINK"] == f"http://127.0.0.1:3103/{namespace}/{name}"
    assert wired["broker"]["BROKER_SERVICES"] == (
        "audit=http://127.0.0.1:3102,user=http://127.0.0.1:3101"
    )


def test_make_run_takes_its_ports_and_extra_services_from_the_environment() -> None:
    children = {
        child.name: child
        for child in plan(
            {
                "USER_PORT": "3101",
                "AUDIT_PORT": "3102",
                "BROKER_PORT": "3103",
                "BROKER_SERVICES": "sink=http://127.0.0.1:9",
                "PORT": "1",
                "DATABASE_URL": "postgresql://elsewhere/db",
            }
        )
    }
    assert {name: child.port for name, child in children.items()} == PORTS
    assert children["user"].env["K_SINK"].startswith("http://127.0.0.1:3103/")
    assert children["broker"].env["BROKER_SERVICES"].endswith(",sink=http://127.0.0.1:9")
    for name, child in children.items():
        assert child.env["PORT"] == str(PORTS[name])
        assert child.env["DATA_DIR"] == ".data"
        assert "DATABASE_URL" not in child.env  # one URL cannot serve three databases


@pytest.mark.parametrize("port", ["0", "65536", "http", ""])
def test_make_run_refuses_a_port_that_is_not_one(port: str) -> None:
    with pytest.raises(SystemExit, match="USER_PORT"):
        plan({"USER_PORT": port})


@pytest.mark.parametrize(
    "content", ["kind: Trigger\nmetadata: {name: t}\n", "kind: Broker\nmetadata: {}\n", "a: [\n"]
)
def test_make_run_stops_at_once_when_the_manifests_name_no_broker(
    tmp_path: Path, content: str
) -> None:
    manifest = tmp_path / "broker.yaml"
    manifest.write_text(content)
    with pytest.raises(SystemExit, match="cannot honour the manifests"):
        plan({"BROKER_MANIFESTS": str(manifest)})


def test_make_run_names_a_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"missing\.yaml"):
        plan({"BROKER_MANIFESTS": str(tmp_path / "missing.yaml")})
