"""hack/bootstrap_uv.py on its own: which uv wheel fits which machine, a local package
index (JSON and HTML simple API) served over real HTTP, the sha256 check, credentials
kept out of messages, and a uv already on PATH."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

VERSION = "0.13.9"
#: The platform tags of uv 0.13.9's wheels on the index, as published.
PUBLISHED = [
    "linux_armv6l",
    "macosx_10_12_x86_64",
    "macosx_11_0_arm64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
    "manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l",
    "manylinux_2_17_armv7l.manylinux2014_armv7l",
    "manylinux_2_17_i686.manylinux2014_i686",
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_28_aarch64",
    "musllinux_1_1_x86_64",
    "win_amd64",
]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bootstrap_uv", REPO / "hack" / "bootstrap_uv.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bootstrap_uv"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bootstrap_uv = _load()


def links(tags: list[str]) -> list[object]:
    return [
        bootstrap_uv.WheelLink(f"uv-{VERSION}-py3-none-{tag}.whl", f"https://x/{tag}", "0")
        for tag in tags
    ]


@pytest.mark.parametrize(
    ("system", "machine", "libc", "version", "chosen"),
    [
        ("linux", "x86_64", "glibc", (2, 36), "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ("linux", "aarch64", "glibc", (2, 36), "manylinux_2_28_aarch64"),
        (
            "linux",
            "aarch64",
            "glibc",
            (2, 27),
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        ("linux", "x86_64", "musl", (0, 0), "musllinux_1_1_x86_64"),
        ("linux", "armv6l", "glibc", (2, 36), "linux_armv6l"),
        ("darwin", "arm64", "", (14, 2), "macosx_11_0_arm64"),
        ("darwin", "x86_64", "", (13, 0), "macosx_10_12_x86_64"),
    ],
)
def test_the_wheel_for_each_machine(
    system: str, machine: str, libc: str, version: tuple[int, int], chosen: str
) -> None:
    here = bootstrap_uv.Platform(system, machine, libc, version)
    link = bootstrap_uv.pick_wheel(links(PUBLISHED), VERSION, here)
    assert link.filename == f"uv-{VERSION}-py3-none-{chosen}.whl"


@pytest.mark.parametrize(
    "here",
    [
        ("linux", "x86_64", "glibc", (2, 12)),  # older than manylinux2014
        ("darwin", "x86_64", "", (10, 9)),
        ("linux", "mips64", "glibc", (2, 36)),
    ],
)
def test_no_fitting_wheel_says_what_to_install(here: tuple[str, str, str, tuple[int, int]]) -> None:
    with pytest.raises(bootstrap_uv.BootstrapError) as raised:
        bootstrap_uv.pick_wheel(links(PUBLISHED), VERSION, bootstrap_uv.Platform(*here))
    message = str(raised.value)
    assert "sudo apt-get install python3-venv" in message
    assert "sudo dnf install uv" in message


def fake_uv_wheel() -> bytes:
    """A wheel laid out like uv's whose `uv` is a script printing the pinned version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        script = zipfile.ZipInfo(f"uv-{VERSION}.data/scripts/uv")
        archive.writestr(script, f'#!/bin/sh\necho "uv {VERSION}"\n')
        archive.writestr(f"uv-{VERSION}.dist-info/METADATA", f"Name: uv\nVersion: {VERSION}\n")
    return buffer.getvalue()


@dataclass
class LocalIndex:
    """A simple index on 127.0.0.1 serving one uv wheel for this machine."""

    wheel: bytes
    published_sha256: str
    html: bool = False
    page_override: bytes | None = None
    password: str | None = None
    seen_auth: list[str | None] = field(default_factory=list)
    url: str = ""

    @property
    def filename(self) -> str:
        return f"uv-{VERSION}-py3-none-linux_{bootstrap_uv.Platform.here().machine}.whl"

    def page(self) -> tuple[str, bytes]:
        if self.page_override is not None:
            return bootstrap_uv.JSON_API, self.page_override
        if self.html:
            fragment = f"#sha256={self.published_sha256}" if self.published_sha256 else ""
            href = f"../../files/{self.filename}{fragment}"
            return "text/html", f'<html><body><a href="{href}">{self.filename}</a>'.encode()
        files = [
            {
                "filename": self.filename,
                "url": f"../../files/{self.filename}",
                "hashes": {"sha256": self.published_sha256},
            },
            {"filename": f"uv-{VERSION}-yanked.whl", "url": "x", "hashes": {}, "yanked": True},
        ]
        return bootstrap_uv.JSON_API, json.dumps({"files": files}).encode()


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIndex]:
    if sys.platform != "linux":
        pytest.skip("the fake wheel's platform tag is linux_<machine>")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # urllib takes proxies from os.environ
    wheel = fake_uv_wheel()
    served = LocalIndex(wheel, hashlib.sha256(wheel).hexdigest())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.seen_auth.append(self.headers.get("Authorization"))
            if self.path == "/simple/uv/":
                content_type, body = served.page()
            elif self.path == f"/files/{served.filename}":
                content_type, body = "application/octet-stream", served.wheel
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("html", [False, True], ids=["json-api", "html-api"])
def test_the_index_wheel_is_unpacked_to_tools_bin_and_runs(
    index: LocalIndex, html: bool, tmp_path: Path
) -> None:
    index.html = html
    uv = bootstrap_uv.from_index(tmp_path, VERSION, {"UV_INDEX_URL": index.url})
    assert uv == tmp_path / "bin" / "uv"
    assert bootstrap_uv.uv_version(uv) == (0, 13, 9)


def test_a_wheel_whose_sha256_differs_from_the_index_is_refused(
    index: LocalIndex, tmp_path: Path
) -> None:
    index.published_sha256 = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(bootstrap_uv.BootstrapError, match="refusing it"):
        bootstrap_uv.from_index(tmp_path, VERSION, {"PIP_INDEX_URL": index.url})
    assert not (tmp_path / "bin" / "uv").exists()


def test_a_wheel_without_a_published_sha256_is_refused(index: LocalIndex, tmp_path: Path) -> None:
    index.html, index.published_sha256 = True, ""
    with pytest.raises(bootstrap_uv.BootstrapError, match="publishes no sha256"):
        bootstrap_uv.from_index(tmp_path, VERSION, {"UV_INDEX_URL": index.url})
    assert not (tmp_path / "bin" / "uv").exists()


def test_a_malformed_index_page_is_one_clear_error(index: LocalIndex, tmp_path: Path) -> None:
    index.page_override = b'{"meta": {}}'
    with pytest.raises(bootstrap_uv.BootstrapError, match="not a PEP 691 project page"):
        bootstrap_uv.from_index(tmp_path, VERSION, {"UV_INDEX_URL": index.url})


def test_index_variables_in_uv_then_pip_order() -> None:
    pick = bootstrap_uv.index_url
    assert pick({}) == "https://pypi.org/simple"
    assert pick({"PIP_INDEX_URL": "https://p/simple/"}) == "https://p/simple"
    both = {"PIP_INDEX_URL": "https://p/simple", "UV_INDEX_URL": "https://u/simple"}
    assert pick(both) == "https://u/simple"
    assert pick({**both, "UV_DEFAULT_INDEX": "https://d/simple"}) == "https://d/simple"


def test_index_credentials_are_sent_to_the_index_and_never_shown(
    index: LocalIndex, tmp_path: Path
) -> None:
    with_password = index.url.replace("http://", "http://me:s3cret@")
    bootstrap_uv.from_index(tmp_path, VERSION, {"UV_INDEX_URL": with_password})
    assert index.seen_auth
    assert all(auth and auth.startswith("Basic ") for auth in index.seen_auth)

    missing = with_password.replace("/simple", "/nothing")
    with pytest.raises(bootstrap_uv.BootstrapError) as raised:
        bootstrap_uv.from_index(tmp_path, VERSION, {"UV_INDEX_URL": missing})
    assert "HTTP 404" in str(raised.value)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    ("on_path", "used"), [("0.14.2", True), ("0.13.9", True), ("0.12.0", False)]
)
def test_uv_on_path_is_used_when_at_least_the_pinned_version(
    on_path: str, used: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path_dir = tmp_path / "path"
    path_dir.mkdir()
    uv = path_dir / "uv"
    uv.write_text(f'#!/bin/sh\necho "uv {on_path} (abc 2026-01-01)"\n')
    uv.chmod(0o755)
    monkeypatch.setenv("PATH", str(path_dir))
    linked = bootstrap_uv.from_path(tmp_path / "tools", VERSION)
    if used:
        assert linked == tmp_path / "tools" / "bin" / "uv"
        assert linked.resolve() == uv
    else:
        assert linked is None
