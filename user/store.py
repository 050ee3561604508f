"""User queries. Every change to a user writes its outbox row in the same
transaction, so an event exists if and only if the change committed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from user.batching import CommitBatcher
from user.outbox import OutboxEvent, insert_outbox_row, outbox_values
from user.tables import outbox, users


@dataclass(frozen=True, slots=True)
class User:
    """A stored user; the password hash never leaves the store except for checks."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One page of users and the key to continue after its last item (None at the end)."""

    items: list[User]
    next_key: tuple[datetime, str] | None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, created_at=row.created_at, updated_at=row.updated_at)


_PUBLIC = (users.c.id, users.c.name, users.c.created_at, users.c.updated_at)


def new_user_id() -> str:
    """A fresh user id: a random UUID (the login name for HTTP Basic)."""
    return str(uuid.uuid4())


class UserStore:
    """Users in SQL. Each change is committed together with its outbox event, in a
    transaction shared with other concurrent changes (group commit)."""

    def __init__(self, engine: AsyncEngine, writes: CommitBatcher) -> None:
        self.engine = engine
        self.writes = writes

    async def create(
        self, user_id: str, name: str, password_hash: str, event: OutboxEvent, now: datetime
    ) -> User:
        user = {
            "id": user_id,
            "name": name,
            "password_hash": password_hash,
            "created_at": now,
            "updated_at": now,
        }
        await self.writes.insert([(users, user), (outbox, outbox_values(event, now))])
        return User(user_id, name, now, now)

    async def get(self, user_id: str) -> User | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(sa.select(*_PUBLIC).where(users.c.id == user_id))
            ).first()
        return None if row is None else _user(row)

    async def password_hash(self, user_id: str) -> str | None:
        """The stored hash, for verifying a login; None when there is no such user."""
        async with self.engine.connect() as connection:
            result = await connection.execute(
                sa.select(users.c.password_hash).where(users.c.id == user_id)
            )
            return result.scalar_one_or_none()

    async def page(self, limit: int, after: tuple[datetime, str] | None) -> Page:
        """Users in creation order (ties broken by id), `limit` at a time."""
        query = sa.select(*_PUBLIC).order_by(users.c.created_at, users.c.id).limit(limit + 1)
        if after is not None:
            created_at, user_id = after
            query = query.where(
                sa.or_(
                    users.c.created_at > created_at,
                    sa.and_(users.c.created_at == created_at, users.c.id > user_id),
                )
            )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        items = [_user(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, (items[-1].created_at, items[-1].id) if more and items else None)

    async def update(
        self,
        user_id: str,
        *,
        name: str | None,
        password_hash: str | None,
        event: OutboxEvent,
        now: datetime,
    ) -> User | None:
        """Apply the changes and write the event; None (and nothing written) if absent."""
        values: dict[str, Any] = {"updated_at": now}
        if name is not None:
            values["name"] = name
        if password_hash is not None:
            values["password_hash"] = password_hash

        async def write(connection: AsyncConnection) -> User | None:
            # Write first: on SQLite a read-then-write transaction can fail to upgrade its lock.
            statement = (
                users.update().where(users.c.id == user_id).values(**values).returning(*_PUBLIC)
            )
            row = (await connection.execute(statement)).first()
            if row is None:
                return None
            await insert_outbox_row(connection, event, now)
            return _user(row)

        return await self.writes.run(write)

    async def delete(self, user_id: str, event: OutboxEvent, now: datetime) -> bool:
        """Delete and write the event; False (and nothing written) if absent."""

        async def write(connection: AsyncConnection) -> bool:
            statement = users.delete().where(users.c.id == user_id).returning(users.c.id)
            if (await connection.execute(statement)).first() is None:
                return False
            await insert_outbox_row(connection, event, now)
            return True

        return await self.writes.run(write)
