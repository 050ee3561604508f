"""The latency driver's HTTP/1.1 client against a small in-process server."""

from __future__ import annotations

import asyncio

import pytest

from bench.http1 import Http1Client, HttpError


async def serve(responses: list[bytes], seen: list[bytes]) -> tuple[asyncio.Server, str]:
    """Answer each request with the next canned response; count connections in `seen`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(b"connection")
        try:
            while responses:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                seen.append(head + await reader.readexactly(length))
                writer.write(responses.pop(0))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def test_keep_alive_reuses_one_connection() -> None:
    created = b'HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{"id":"u1"}'

    async def scenario() -> None:
        seen: list[bytes] = []
        server, url = await serve([created, created], seen)
        client = Http1Client(url)
        first = await client.post_json("/v1/user", b'{"name":"a"}')
        second = await client.post_json("/v1/user", b'{"name":"b"}')
        await client.aclose()
        server.close()
        assert (first.status, first.body) == (201, b'{"id":"u1"}')
        assert second.status == 201
        assert seen.count(b"connection") == 1
        assert seen[1].startswith(b"POST /v1/user HTTP/1.1\r\n")
        assert seen[1].endswith(b'\r\n\r\n{"name":"a"}')

    asyncio.run(scenario())


def test_connection_close_is_honoured() -> None:
    closing = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    ok = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"

    async def scenario() -> None:
        seen: list[bytes] = []
        server, url = await serve([closing, ok], seen)
        client = Http1Client(url)
        assert (await client.post_json("/v1/user", b"{}")).status == 503
        assert (await client.post_json("/v1/user", b"{}")).status == 201
        await client.aclose()
        server.close()
        assert seen.count(b"connection") == 2

    asyncio.run(scenario())


def test_a_server_that_hangs_up_is_an_error() -> None:
    async def scenario() -> None:
        server, url = await serve([], [])
        client = Http1Client(url)
        with pytest.raises(HttpError, match="closed"):
            await client.post_json("/v1/user", b"{}")
        server.close()

    asyncio.run(scenario())
