"""`python -m audit`: serve the audit service (port 8080 by default)."""

from audit.settings import AuditSettings
from common.settings import load_settings
from common.web.server import serve

if __name__ == "__main__":
    serve("audit.app:create_app", load_settings(AuditSettings), "audit")
