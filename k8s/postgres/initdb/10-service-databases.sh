#!/usr/bin/env bash
# Run by the postgres image's entrypoint once, when the data directory is first created.
# One login role and one database per service; each database is closed to the others.
# The names and passwords come from the user-db and audit-db Secrets (env in the
# StatefulSet); psql variables quote them, so no value is ever pasted into SQL.
set -euo pipefail

create_service_database() { # role database password
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
    --set=role="$1" --set=db="$2" --set=pw="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
}

create_service_database "$USER_DB_USER" "$USER_DB_NAME" "$USER_DB_PASSWORD"
create_service_database "$AUDIT_DB_USER" "$AUDIT_DB_NAME" "$AUDIT_DB_PASSWORD"
