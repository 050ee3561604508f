"""Alembic environment: the service upgrades at start-up (common.migrations.Migrations)."""

from common.migrations import run_env

run_env()
