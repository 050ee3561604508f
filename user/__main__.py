"""`python -m user`: the user service on PORT (default 3000)."""

from __future__ import annotations

from common.settings import load_settings
from common.web.server import serve
from user.settings import UserSettings


def main() -> None:
    # Validate the configuration before uvicorn starts: a bad variable stops here
    # with one line naming it.
    settings = load_settings(UserSettings)
    serve("user.app:create_app", settings, "user", trusted_proxies=settings.forwarded_allow_ips)


if __name__ == "__main__":
    main()
