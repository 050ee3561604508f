"""HTTP handlers: translate requests to domain calls and results to responses.

No SQL and no hashing here; see store.py, passwords.py, outbox.py and auth.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.body import read_json
from common.web.errors import ApiError
from user.auth import Authenticator
from user.outbox import EventFactory
from user.passwords import PasswordHasher
from user.schemas import DELETE_USER, STORE_USER, UPDATE_USER, schema_for
from user.store import User, UserStore, new_user_id
from user.validation import (
    canonical_user_id,
    encode_cursor,
    parse_cursor,
    parse_limit,
    parse_new_user,
    parse_user_changes,
)

Handler = Callable[[Request], Awaitable[Response]]


def _route(path: str, **handlers: Handler) -> Route:
    """One Route for all methods of a path, so that a 405 lists them all in Allow."""

    async def endpoint(request: Request) -> Response:
        # Starlette answers 405 for other methods, and HEAD only exists with GET.
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return Route(path, endpoint, methods=list(handlers))


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such user")


class UserApi:
    """The `/v1` routes."""

    def __init__(
        self,
        *,
        store: UserStore,
        hasher: PasswordHasher,
        auth: Authenticator,
        events: EventFactory,
        base_url: str,
        max_body_bytes: int,
        password_min_length: int,
    ) -> None:
        self.store = store
        self.hasher = hasher
        self.auth = auth
        self.events = events
        self.base_url = base_url
        self.max_body_bytes = max_body_bytes
        self.password_min_length = password_min_length

    def routes(self) -> list[Route]:
        return [
            Route("/v1/user", self.create, methods=["POST"]),
            _route("/v1/users", POST=self.create, GET=self.list),
            _route("/v1/users/{user_id}", GET=self.read, PATCH=self.update, DELETE=self.delete),
            Route("/v1/schemas/{event_type}.json", self.schema, methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        """Open to anyone: the original `curl -X POST /v1/user`."""
        new = parse_new_user(
            await read_json(request, self.max_body_bytes), self.password_min_length
        )
        password_hash = await self.hasher.hash(new.password)
        user_id = new_user_id()
        now = datetime.now(UTC)
        event = self.events.build(STORE_USER, user_id, {"id": user_id}, now)
        user = await self.store.create(user_id, new.name, password_hash, event, now)
        return JSONResponse(
            {"id": user.id, "name": user.name},
            201,
            headers={"Location": f"/v1/users/{user.id}"},
        )

    async def list(self, request: Request) -> Response:
        """Administrator only: users in creation order, a page at a time."""
        (await self.auth.authenticate(request)).require_admin()
        limit = parse_limit(request.query_params.get("limit"))
        after = parse_cursor(request.query_params.get("cursor"))
        page = await self.store.page(limit, after)
        return JSONResponse(
            {
                "items": [user.to_json() for user in page.items],
                "next_cursor": encode_cursor(page.next_key) if page.next_key else None,
            }
        )

    async def _target(self, request: Request) -> str:
        """Authenticate, authorise for the path's user, and return its canonical id."""
        principal = await self.auth.authenticate(request)
        raw = request.path_params["user_id"]
        user_id = canonical_user_id(raw)
        principal.require_self_or_admin(user_id or raw)
        if user_id is None:
            raise _not_found()
        return user_id

    async def read(self, request: Request) -> Response:
        user_id = await self._target(request)
        user = await self.store.get(user_id)
        if user is None:
            raise _not_found()
        return JSONResponse(user.to_json())

    async def update(self, request: Request) -> Response:
        user_id = await self._target(request)
        changes = parse_user_changes(
            await read_json(request, self.max_body_bytes), self.password_min_length
        )
        password_hash = await self.hasher.hash(changes.password) if changes.password else None
        now = datetime.now(UTC)
        event = self.events.build(
            UPDATE_USER, user_id, {"id": user_id, "changed": changes.changed}, now
        )
        user: User | None = await self.store.update(
            user_id, name=changes.name, password_hash=password_hash, event=event, now=now
        )
        if user is None:
            raise _not_found()
        return JSONResponse(user.to_json())

    async def delete(self, request: Request) -> Response:
        user_id = await self._target(request)
        now = datetime.now(UTC)
        event = self.events.build(DELETE_USER, user_id, {"id": user_id}, now)
        if not await self.store.delete(user_id, event, now):
            raise _not_found()
        return Response(status_code=204)

    async def schema(self, request: Request) -> Response:
        """The JSON Schema that an event's `dataschema` points at."""
        document = schema_for(self.base_url, request.path_params["event_type"])
        if document is None:
            raise ApiError(404, "not_found", "no such event type")
        return JSONResponse(document, media_type="application/schema+json")
