"""Run an app factory under uvicorn with production defaults."""

from __future__ import annotations

import logging

import uvicorn

from common.logs import configure_logging
from common.settings import ServiceSettings
from common.web.protocol import HeaderTimeoutProtocol

logger = logging.getLogger(__name__)


def serve(
    factory: str, settings: ServiceSettings, service: str, *, trusted_proxies: str = ""
) -> None:
    """Serve `module:create_app` until SIGTERM/SIGINT; in-flight requests finish first.

    `trusted_proxies` (comma-separated addresses or CIDRs): connections from these may
    name the client in X-Forwarded-For (uvicorn's ProxyHeadersMiddleware takes the
    right-most address not in the list); empty, the socket's peer is the client.
    """
    configure_logging(service, settings.log_level)
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(trusted_proxies),
        # Never None: uvicorn would then read FORWARDED_ALLOW_IPS itself (default 127.0.0.1).
        forwarded_allow_ips=trusted_proxies or [],
        http=HeaderTimeoutProtocol,
        # Past this many connections+tasks uvicorn answers 503 instead of running out of fds.
        limit_concurrency=2048,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=20,
        reload=settings.reload,
        reload_dirs=["."] if settings.reload else None,
    )
