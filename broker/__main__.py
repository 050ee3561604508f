"""`python -m broker`: the local Knative Broker data plane (port 8081)."""

from __future__ import annotations

import sys

from broker.manifests import ManifestError, load_config
from broker.settings import BrokerSettings
from common.settings import load_settings
from common.web.server import serve


def main() -> None:
    settings = load_settings(BrokerSettings)
    try:
        # Validate before serving so a bad manifest stops us with one clear line.
        load_config(settings.broker_manifests, settings.broker_services)
    except ManifestError as exc:
        print(f"broker: cannot honour the manifests: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve("broker.app:create_app", settings, "broker")


if __name__ == "__main__":
    main()
