"""Put a working `uv` at DEST/bin/uv using nothing but the Python standard library.

`make` runs this once, before `uv sync`. The first way that works wins:

1. `uv` already on PATH, at the pinned version or newer: DEST/bin/uv links to it;
2. `python3 -m venv` with pip (ensurepip): pip downloads the pinned wheel, checking
   the hash the index publishes, and honouring the user's pip configuration;
3. the package index's simple API (PEP 691 JSON, else PEP 503 HTML) read with urllib:
   the pinned wheel for this platform, its sha256 checked against the index's.

Debian and Ubuntu ship python3 without venv and pip, so step 3 is what a fresh
machine of theirs takes. Index: UV_DEFAULT_INDEX, UV_INDEX_URL or PIP_INDEX_URL;
CA bundle: SSL_CERT_FILE (or SSL_CERT_DIR); proxies: HTTPS_PROXY. A step that
cannot work ends with one line saying what to install or set, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_INDEX = "https://pypi.org/simple"
INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
JSON_API = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 60.0
#: Bounds for the venv and pip subprocesses (pip retries slow networks on its own).
VENV_TIMEOUT = 300.0
PIP_TIMEOUT = 600.0
INSTALL_UV = "Debian/Ubuntu: sudo apt-get install python3-venv; Fedora: sudo dnf install uv"
INSTALL_CA = (
    "Debian/Ubuntu: sudo apt-get install ca-certificates; Fedora: sudo dnf install ca-certificates"
)


class BootstrapError(Exception):
    """A step that cannot work; the message is the one line the user sees."""


@dataclass(frozen=True)
class Platform:
    """What decides which uv wheel runs here."""

    system: str  # "linux", "darwin"
    machine: str  # as in wheel tags: x86_64, aarch64, arm64, armv7l, ...
    libc: str  # "glibc", "musl" or "" (macOS)
    version: tuple[int, int]  # glibc or macOS version; (0, 0) when unknown

    @classmethod
    def here(cls) -> Platform:
        system = platform.system().lower()
        machine = platform.machine().lower()
        if system == "darwin":
            return cls(system, machine, "", _version(platform.mac_ver()[0]))
        libc, version = platform.libc_ver()
        if libc != "glibc" and list(Path("/lib").glob("ld-musl-*.so.1")):
            libc = "musl"
        return cls(system, machine, libc, _version(version))

    def __str__(self) -> str:
        version = ".".join(map(str, self.version))
        return f"{self.system} {self.machine} {self.libc or 'macOS'} {version}".strip()


@dataclass(frozen=True)
class WheelLink:
    filename: str
    url: str
    sha256: str | None


def _version(text: str) -> tuple[int, int]:
    major, minor = [*(int(p) for p in re.findall(r"\d+", text)[:2]), 0, 0][:2]
    return major, minor


def _legacy_manylinux(tag: str) -> tuple[str, str] | None:
    # PEP 600: manylinux1 = glibc 2.5, manylinux2010 = 2.12, manylinux2014 = 2.17.
    for alias, glibc in (
        ("manylinux1_", "2_5"),
        ("manylinux2010_", "2_12"),
        ("manylinux2014_", "2_17"),
    ):
        if tag.startswith(alias):
            return glibc, tag.removeprefix(alias)
    return None


def tag_fits(tag: str, here: Platform) -> tuple[int, int] | None:
    """The libc/OS version a platform tag needs when it runs here, else None."""
    if here.system == "linux" and tag == f"linux_{here.machine}":
        return (0, 0)
    legacy = _legacy_manylinux(tag)
    if legacy:
        tag = f"manylinux_{legacy[0]}_{legacy[1]}"
    match = re.fullmatch(r"(manylinux|musllinux|macosx)_(\d+)_(\d+)_(\w+)", tag)
    if not match:
        return None
    family, major, minor, arch = match[1], int(match[2]), int(match[3]), match[4]
    wanted = {
        "manylinux": here.system == "linux" and here.libc == "glibc",
        "musllinux": here.system == "linux" and here.libc == "musl",
        "macosx": here.system == "darwin",
    }[family]
    arch_ok = arch == here.machine or (family == "macosx" and arch == "universal2")
    # musl's version is not exposed to Python; uv's musllinux_1_1 wheels are static.
    version_ok = family == "musllinux" or (major, minor) <= here.version
    return (major, minor) if wanted and arch_ok and version_ok else None


def pick_wheel(links: list[WheelLink], version: str, here: Platform) -> WheelLink:
    """The pinned uv wheel that runs here, preferring the newest libc/OS baseline."""
    best: tuple[tuple[int, int], WheelLink] | None = None
    for link in links:
        parts = link.filename.removesuffix(".whl").split("-")
        if len(parts) != 5 or parts[0] != "uv" or parts[1] != version:
            continue
        fits = (tag_fits(tag, here) for tag in parts[4].split("."))
        needs = [fit for fit in fits if fit is not None]
        if needs and (best is None or max(needs) > best[0]):
            best = (max(needs), link)
    if best is None:
        raise BootstrapError(
            f"the package index has no uv {version} wheel for this machine ({here}); "
            f"install uv yourself ({INSTALL_UV})"
        )
    return best[1]


def index_url(env: dict[str, str]) -> str:
    for name in INDEX_VARIABLES:
        if env.get(name, "").strip():
            return env[name].strip().rstrip("/")
    return DEFAULT_INDEX


def redact(url: str) -> str:
    """The URL without credentials, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class _Anchors(HTMLParser):
    """<a href> and data-yanked of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append((values["href"] or "", "data-yanked" in values))


class Index:
    """A PEP 503/691 simple index read with urllib (proxies from the environment)."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.auth: str | None = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
            self.auth = "Basic " + base64.b64encode(pair.encode()).decode()
            self.url = redact(url)
        self.host = parts.hostname
        cafile = env.get("SSL_CERT_FILE") or None
        capath = env.get("SSL_CERT_DIR") or None
        try:
            # With neither set this is the system's default store, as in pip and curl.
            self.context = ssl.create_default_context(cafile=cafile, capath=capath)
        except (OSError, ssl.SSLError) as exc:
            where = f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}"
            raise BootstrapError(f"{where} cannot be loaded ({exc})") from None

    def _open(self, url: str, accept: str) -> tuple[bytes, str]:
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise BootstrapError(f"{redact(url)}: only http(s) indexes are supported")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url, headers={"Accept": accept, "User-Agent": "bootstrap_uv"}
        )
        # Credentials go only to the index's own host, not to a CDN it links to.
        if self.auth and urllib.parse.urlsplit(url).hostname == self.host:
            request.add_header("Authorization", self.auth)
        try:
            opened = urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context)  # noqa: S310
            with opened as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise BootstrapError(f"{redact(url)} answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise _network_error(url, exc.reason) from None
        except (OSError, TimeoutError) as exc:
            raise _network_error(url, exc) from None

    def wheels(self, project: str) -> list[WheelLink]:
        page = f"{self.url}/{project}/"
        body, content_type = self._open(page, f"{JSON_API}, text/html;q=0.1")
        if content_type.split(";")[0].strip() == JSON_API:
            try:
                return [
                    WheelLink(
                        f["filename"],
                        urllib.parse.urljoin(page, f["url"]),
                        f["hashes"].get("sha256"),
                    )
                    for f in json.loads(body)["files"]
                    if f["filename"].endswith(".whl") and not f.get("yanked")
                ]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise BootstrapError(f"{page} is not a PEP 691 project page ({exc!r})") from None
        anchors = _Anchors()
        anchors.feed(body.decode("utf-8", "replace"))
        links = []
        for href, yanked in anchors.links:
            url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
            filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
            sha256 = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
            if filename.endswith(".whl") and not yanked:
                links.append(WheelLink(filename, url, sha256))
        return links

    def download(self, link: WheelLink, target: Path) -> None:
        """Fetch a wheel into target, refusing it unless its sha256 is the index's."""
        if not link.sha256:
            raise BootstrapError(
                f"{self.url} publishes no sha256 for {link.filename}; cannot check it"
            )
        body, _ = self._open(link.url, "application/octet-stream")
        digest = hashlib.sha256(body).hexdigest()
        if digest != link.sha256.lower():
            raise BootstrapError(
                f"{link.filename} from {redact(link.url)} has sha256 {digest}, "
                f"the index publishes {link.sha256}: refusing it"
            )
        target.write_bytes(body)


def _network_error(url: str, reason: object) -> BootstrapError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return BootstrapError(
            f"the TLS certificate of {urllib.parse.urlsplit(url).hostname} is not trusted "
            f"({reason.verify_message}): install the CA certificates ({INSTALL_CA}), "
            "or behind a TLS-inspecting proxy set SSL_CERT_FILE to its CA bundle"
        )
    return BootstrapError(
        f"cannot reach {redact(url)} ({reason}): behind a proxy set HTTPS_PROXY, "
        "for a mirror set UV_INDEX_URL or PIP_INDEX_URL"
    )


def install_from_wheel(wheel: Path, dest: Path, version: str) -> Path:
    """Unpack the uv executable of a uv wheel to dest/bin/uv (atomically)."""
    name = "uv.exe" if os.name == "nt" else "uv"
    member = f"uv-{version}.data/scripts/{name}"
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise BootstrapError(f"{wheel.name} has no usable {member} ({exc})") from None
    target = dest / "bin" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.replace(target)
    return target


def uv_version(executable: str | Path) -> tuple[int, ...] | None:
    """The version `uv --version` reports, or None when it does not run."""
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            [str(executable), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"uv (\d+(?:\.\d+)*)", result.stdout)
    if result.returncode != 0 or not match:
        return None
    return tuple(int(p) for p in match[1].split("."))


def from_path(dest: Path, version: str) -> Path | None:
    """Link dest/bin/uv to the uv on PATH when it is the pinned version or newer."""
    found = shutil.which("uv")
    if found is None or Path(found).resolve().parent == (dest / "bin").resolve():
        return None
    have = uv_version(found)
    pinned = tuple(int(p) for p in version.split("."))
    if have is None or have < pinned:
        shown = ".".join(map(str, have)) if have else "unusable"
        say(f"{found} is uv {shown}, older than {version}; installing {version} in {dest}")
        return None
    target = dest / "bin" / "uv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    target.symlink_to(Path(found).resolve())
    say(f"using {found} from PATH")
    return target


def _run(
    command: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str] | None:
    """The finished process, or None when it did not finish in time."""
    try:
        return subprocess.run(  # noqa: S603 - a fixed argv, no shell
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None


def with_venv_pip(dest: Path, version: str, env: dict[str, str]) -> Path | None:
    """pip from a throwaway venv fetches the wheel; None when venv or ensurepip is missing."""
    with tempfile.TemporaryDirectory(prefix="bootstrap-uv-") as tmp:
        venv, wheels = Path(tmp) / "venv", Path(tmp) / "wheels"
        made = _run([sys.executable, "-m", "venv", str(venv)], env, VENV_TIMEOUT)
        python = venv / "bin" / "python"
        if made is None or made.returncode != 0 or not python.exists():
            say(f"{sys.executable} -m venv has no pip (ensurepip); fetching uv {version} directly")
            return None
        pip_env = dict(env)
        if "PIP_INDEX_URL" not in env and index_url(env) != DEFAULT_INDEX:
            pip_env["PIP_INDEX_URL"] = index_url(env)
        if env.get("SSL_CERT_FILE") and "PIP_CERT" not in env:
            pip_env["PIP_CERT"] = env["SSL_CERT_FILE"]
        command = [str(python), "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
        command += ["--no-deps", "--only-binary=:all:", "--dest", str(wheels), f"uv=={version}"]
        fetched = _run(command, pip_env, PIP_TIMEOUT)
        found = sorted(wheels.glob(f"uv-{version}-*.whl")) if wheels.exists() else []
        if fetched is None or fetched.returncode != 0 or not found:
            error = fetched.stderr if fetched else f"no answer in {PIP_TIMEOUT:.0f} s"
            last = (error.strip().splitlines() or ["no wheel"])[-1]
            say(f"pip could not fetch uv {version} ({last}); trying the index directly")
            return None
        say(f"pip fetched {found[0].name}")
        return install_from_wheel(found[0], dest, version)


def from_index(dest: Path, version: str, env: dict[str, str]) -> Path:
    index = Index(index_url(env), env)
    link = pick_wheel(index.wheels("uv"), version, Platform.here())
    say(f"downloading {link.filename} from {index.url}")
    with tempfile.TemporaryDirectory(prefix="bootstrap-uv-") as tmp:
        wheel = Path(tmp) / link.filename
        index.download(link, wheel)
        say(f"sha256 {link.sha256} matches the index")
        return install_from_wheel(wheel, dest, version)


def bootstrap(dest: Path, version: str, env: dict[str, str]) -> Path:
    """A uv at dest/bin/uv that runs and is at least `version`."""
    if os.name == "nt":
        raise BootstrapError("Windows: use WSL, or install uv and run `uv sync` yourself")
    uv = from_path(dest, version) or with_venv_pip(dest, version, env)
    if uv is None:
        uv = from_index(dest, version, env)
    have = uv_version(uv)
    if have is None:
        raise BootstrapError(f"{uv} does not run on this machine; install uv ({INSTALL_UV})")
    say(f"{uv} is uv {'.'.join(map(str, have))}")
    return uv


def say(text: str) -> None:
    print(f"bootstrap: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="the pinned uv version, e.g. 0.13.9")
    parser.add_argument("--dest", type=Path, default=Path(".tools"), help="uv goes to DEST/bin/uv")
    args = parser.parse_args(argv)
    try:
        bootstrap(args.dest, args.version, dict(os.environ))
    except BootstrapError as exc:
        say(f"cannot install uv {args.version}: {exc}")
        return 1
    except OSError as exc:  # e.g. DEST not writable, disk full
        say(f"cannot install uv {args.version} in {args.dest}: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
