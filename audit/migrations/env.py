"""Alembic environment: the service upgrades at start-up (common.migrations.Migrations)."""

raise SystemExit("audit migrations run at start-up; start the service (python -m audit)")
