"""Schemathesis hooks for FlowTrack (loaded by scripts/schemathesis via SCHEMATHESIS_HOOKS).

Authentication: every operation that declares security gets a real bearer token.
  * admin-only operations (GET/POST /users, PATCH/DELETE /users/{id}, GET /reports/overview)
    use the bootstrap admin (FLOWTRACK_ADMIN_EMAIL / FLOWTRACK_ADMIN_PASSWORD of the server);
  * every other operation uses a member registered through POST /auth/register.
Tokens come from POST /auth/login, so they are refreshed like any client would.

Environment (set by scripts/schemathesis):
  FLOWTRACK_ST_BASE_URL        e.g. http://127.0.0.1:40123
  FLOWTRACK_ST_ADMIN_EMAIL     the server's FLOWTRACK_ADMIN_EMAIL
  FLOWTRACK_ST_ADMIN_PASSWORD  the server's FLOWTRACK_ADMIN_PASSWORD
"""

from __future__ import annotations

import os
import threading
import uuid

import requests

import schemathesis

BASE = os.environ["FLOWTRACK_ST_BASE_URL"].rstrip("/")
ADMIN_EMAIL = os.environ["FLOWTRACK_ST_ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["FLOWTRACK_ST_ADMIN_PASSWORD"]

# Operations only an admin may call (a member gets 403).
ADMIN_ONLY = {
    ("GET", "/users"),
    ("POST", "/users"),
    ("PATCH", "/users/{id}"),
    ("DELETE", "/users/{id}"),
    ("GET", "/reports/overview"),
}

_lock = threading.Lock()
_accounts: dict[str, tuple[str, str]] = {"admin": (ADMIN_EMAIL, ADMIN_PASSWORD)}


def _post(path: str, body: dict) -> requests.Response:
    return requests.post(f"{BASE}{path}", json=body, timeout=30)


def register(prefix: str) -> tuple[str, str, dict]:
    """A fresh member: (email, password, token pair)."""
    email = f"{prefix}-{uuid.uuid4().hex[:12]}@schemathesis.test"
    password = "st-" + uuid.uuid4().hex
    response = _post(
        "/auth/register",
        {"email": email, "password": password, "full_name": f"Schemathesis {prefix}"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"register {email}: HTTP {response.status_code} {response.text}")
    return email, password, response.json()


def login(role: str) -> str:
    with _lock:
        if role not in _accounts:
            email, password, _ = register(role)
            _accounts[role] = (email, password)
        email, password = _accounts[role]
    response = _post("/auth/login", {"email": email, "password": password})
    if response.status_code != 200:
        raise RuntimeError(f"login {role} ({email}): HTTP {response.status_code} {response.text}")
    return response.json()["access_token"]


def role_of(operation) -> str:
    return "admin" if (operation.method.upper(), operation.path) in ADMIN_ONLY else "member"


@schemathesis.auth(cache_by_key=lambda case, ctx: role_of(ctx.operation))
class FlowTrackAuth:
    def get(self, case, ctx):
        return login(role_of(ctx.operation))

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
