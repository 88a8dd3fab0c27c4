"""Schemathesis hooks for FlowTrack, loaded by scripts/schemathesis (SCHEMATHESIS_HOOKS).

1. Authentication. Every operation that declares security gets a real bearer token: the
   admin operations (GET/POST /users, GET/PATCH/DELETE /users/{id}, GET /reports/overview)
   the bootstrap admin's (the server's FLOWTRACK_ADMIN_EMAIL / FLOWTRACK_ADMIN_PASSWORD),
   every other one a member's registered through POST /auth/register (someone else adds it
   to a project, assigns it a task and comments on it first, so it has notifications).
   Tokens come from POST /auth/login, like any client's.

2. Facts a schema cannot state. JSON Schema describes one request in isolation; a few of
   FlowTrack's rules depend on other fields, on secrets or on the server's state (docs/api.md).
   For the *positive* cases only (those Schemathesis expects to succeed), the hooks below
   make the generated request satisfy these rules, the way a real client would; the request
   keeps its generated shape otherwise (and Schemathesis re-validates it after the hook).
   Negative cases are never touched, no check is relaxed, and no failure is filtered.
     * POST /auth/login: real credentials (a generated pair matches no account: 401);
       POST /auth/refresh: a refresh token the server issued.
     * `current_password` of PUT /users/me/password must be the caller's password: each
       positive case runs as a fresh throwaway user whose password is known.
     * `If-Match` must name the task's current version: it is set to the task's ETag (and
       the writes to one task are serialized, so that it stays current).
     * `cursor` must be one the server issued (`next_cursor` of an earlier page): an invented
       one is dropped; cursors the server returned are kept.
     * dates: `due_date` not before `start_date` (given or stored), and a report's `from` not
       after `to`, at most 366 days in all.
     * labels must be distinct once trimmed.
     * an `assignee_id` must be a member of the task's project: the caller itself is used
       (the caller creates the projects it works in).
     * PATCH /tasks/{id}/move needs `status` in the query or the body; a `before_id` /
       `after_id` must name a neighbour in the target column: invented ones are dropped.
     * POST /projects/{id}/members must name an existing user: a real one is used.
     * POST /users/me/tokens: a `project_id` must be a project of the caller's (a new one
       is used) and `expires_at` must be in the future (a past one moves to
       tomorrow).
     * a webhook `url` must resolve to an address the server may deliver to: the server
       runs with FLOWTRACK_WEBHOOK_ALLOW_PRIVATE=true and the URL becomes a closed port on
       127.0.0.1 (deliveries then fail and are retried in the background: not under test).

3. The identities the run authenticates with are not under test: an admin PATCH/DELETE of
   /users/{id} aimed at one of them (it could deactivate the run's own accounts) is aimed
   at a throwaway user instead.

Environment (set by scripts/schemathesis):
  FLOWTRACK_ST_BASE_URL        e.g. http://127.0.0.1:40123
  FLOWTRACK_ST_ADMIN_EMAIL     the server's FLOWTRACK_ADMIN_EMAIL
  FLOWTRACK_ST_ADMIN_PASSWORD  the server's FLOWTRACK_ADMIN_PASSWORD
"""

from __future__ import annotations

import ast
import datetime
import itertools
import os
import threading
import uuid

import requests

import schemathesis

BASE = os.environ["FLOWTRACK_ST_BASE_URL"].rstrip("/")

# CPython (3.11 here) keeps the AST conversion depth per interpreter, not per thread, so two
# workers parsing at once (Hypothesis parses lambda sources to describe strategies) fail with
# "SystemError: AST constructor recursion depth mismatch". One parse at a time avoids it.
_ast_lock = threading.Lock()
_ast_parse = ast.parse


def _serialized_parse(*args, **kwargs):
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _serialized_parse

# Operations called as the admin: the admin-only ones (a member gets 403), and GET /users/{id},
# which follows POST /users (a member sees only itself and the people it shares a project
# with, so the user just created by the admin would be a 404 for it).
ADMIN_ONLY = {
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/users/{id}"),
    ("PATCH", "/users/{id}"),
    ("DELETE", "/users/{id}"),
    ("GET", "/reports/overview"),
}

# Writes that change a task's version. With several workers, two of them may pick the same
# task (Schemathesis reuses the ids it has seen); a positive `If-Match` must stay current from
# the moment it is read until the request is answered, so these are serialized per task.
TASK_WRITES = {("PATCH", "/tasks/{id}"), ("DELETE", "/tasks/{id}"), ("PATCH", "/tasks/{id}/move")}

# What Rust's `str::trim` removes (Unicode White_Space).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"

_lock = threading.Lock()
_http = threading.local()


def _session() -> requests.Session:
    session = getattr(_http, "session", None)
    if session is None:
        session = _http.session = requests.Session()
    return session


def _call(method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return _session().request(method, f"{BASE}{path}", headers=headers, timeout=30, **kwargs)


class Account:
    def __init__(self, email: str, password: str, user_id=None, token=None, refresh_token=None):
        self.email = email
        self.password = password
        self.id = user_id
        self.token = token
        self.refresh_token = refresh_token

    def login(self) -> str:
        response = _call("POST", "/auth/login", json={"email": self.email, "password": self.password})
        if response.status_code != 200:
            raise RuntimeError(f"login {self.email}: HTTP {response.status_code} {response.text}")
        pair = response.json()
        self.id = pair["user"]["id"]
        self.token = pair["access_token"]
        return self.token


def register(prefix: str) -> Account:
    """A fresh member, signed in."""
    email = f"{prefix}-{uuid.uuid4().hex[:12]}@schemathesis.test"
    password = "st-" + uuid.uuid4().hex
    response = _call(
        "POST",
        "/auth/register",
        json={"email": email, "password": password, "full_name": f"Schemathesis {prefix}"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"register {email}: HTTP {response.status_code} {response.text}")
    pair = response.json()
    return Account(email, password, pair["user"]["id"], pair["access_token"], pair["refresh_token"])


_accounts: dict[str, Account] = {
    "admin": Account(os.environ["FLOWTRACK_ST_ADMIN_EMAIL"], os.environ["FLOWTRACK_ST_ADMIN_PASSWORD"]),
}
_peers: list[Account] = []
# Round-robin choices (no `random`: Hypothesis warns about it while it generates data).
_turn = itertools.count()


def account(role: str) -> Account:
    with _lock:
        if role not in _accounts:
            _accounts[role] = register(role)
            if role == "member":
                _seed_notifications(_accounts[role])
        return _accounts[role]


def _seed_notifications(member: Account) -> None:
    """Someone else adds the member to a project, assigns it a task and comments on it, so
    that the member has notifications (one of each kind) to list and mark read."""
    other = register("seed")
    project = _call("POST", "/projects", other.token, json={"name": "Seeded"}).json()
    _call("POST", f"/projects/{project['id']}/members", other.token, json={"user_id": member.id, "role": "editor"})
    task = _call(
        "POST", "/tasks", other.token, json={"project_id": project["id"], "title": "Seeded", "assignee_id": member.id}
    ).json()
    _call("POST", f"/tasks/{task['id']}/comments", other.token, json={"body": "Seeded"})


def peer() -> Account:
    """One of a few other users (to add as project members, or to aim admin changes at)."""
    with _lock:
        if len(_peers) < 4:
            _peers.append(register("peer"))
            return _peers[-1]
        return _peers[next(_turn) % len(_peers)]


def protected_ids() -> set[str]:
    with _lock:
        return {a.id for a in [*_accounts.values(), *_peers] if a.id}


def role_of(operation) -> str:
    return "admin" if (operation.method.upper(), operation.path) in ADMIN_ONLY else "member"


# ----------------------------------------------------------------------------- auth ---


@schemathesis.auth(cache_by_key=lambda case, ctx: role_of(ctx.operation), refresh_interval=1800)
class FlowTrackAuth:
    def get(self, case, ctx):
        return account(role_of(ctx.operation)).login()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# ------------------------------------------------------------------ positive cases ---

_issued_cursors: set[str] = set()
_task_locks: dict[str, threading.Lock] = {}
_held = threading.local()


def _lock_task(case) -> None:
    task_id = str((case.path_parameters or {}).get("id"))
    with _lock:
        lock = _task_locks.setdefault(task_id, threading.Lock())
    # Bounded, so that a request that never completes cannot stall the run.
    if lock.acquire(timeout=60):
        _held.lock = lock


def _unlock_task() -> None:
    lock = getattr(_held, "lock", None)
    if lock is not None:
        _held.lock = None
        lock.release()


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _trim(value: str) -> str:
    return value.strip(WHITE_SPACE)


def _date(value) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _bearer(case) -> str | None:
    value = (case.headers or {}).get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def _fix_labels(body: dict) -> None:
    labels = body.get("labels")
    if isinstance(labels, list):
        seen: set[str] = set()
        kept = []
        for label in labels:
            key = _trim(label) if isinstance(label, str) else label
            if key not in seen:
                seen.add(key)
                kept.append(label)
        body["labels"] = kept


def _fix_assignee(body: dict) -> None:
    if isinstance(body.get("assignee_id"), str):
        body["assignee_id"] = account("member").id


def _own_project_id(token: str) -> str:
    """A new project of the caller's (a shared one could be deleted by a stateful scenario)."""
    return _call("POST", "/projects", token, json={"name": "Token target"}).json()["id"]


def _fix_token(body: dict, token: str) -> None:
    if isinstance(body.get("project_id"), str):
        body["project_id"] = _own_project_id(token)
    if isinstance(body.get("expires_at"), str):
        try:
            at = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except ValueError:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        if at.tzinfo is None or at <= now:
            body["expires_at"] = (now + datetime.timedelta(days=1)).isoformat()


def _fix_webhook_url(body: dict) -> None:
    if isinstance(body.get("url"), str):
        body["url"] = "http://127.0.0.1:9/flowtrack-schemathesis"


def _fix_project_dates(body: dict, patch: bool) -> None:
    start, due = _date(body.get("start_date")), _date(body.get("due_date"))
    if patch:
        # The stored dates count too: give both, in order.
        if start and "due_date" not in body:
            body["due_date"] = body["start_date"]
        elif due and "start_date" not in body:
            body["start_date"] = body["due_date"]
    if start and due and due < start:
        body["start_date"], body["due_date"] = body["due_date"], body["start_date"]


def _fix_report_range(query: dict) -> None:
    today = datetime.datetime.now(datetime.timezone.utc).date()
    start, end = _date(query.get("from")), _date(query.get("to"))
    if start is None:
        return  # `from` defaults to 29 days before `to`: always a valid range
    if end is None and (today - datetime.timedelta(days=365)) <= start <= today:
        return
    end = end or start
    if end < start:
        start, end = end, start
    if (end - start).days > 365:
        end = start + datetime.timedelta(days=365)
    query["from"], query["to"] = start.isoformat(), end.isoformat()


def _fix_if_match(case) -> None:
    if "If-Match" not in (case.headers or {}):
        return
    response = _call("GET", f"/tasks/{case.path_parameters['id']}", _bearer(case))
    if response.status_code == 200:
        case.headers["If-Match"] = response.headers["ETag"]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    method, path = case.operation.method.upper(), case.operation.path

    _unlock_task()  # never carried over from a call that ended without `after_call`
    if (method, path) in TASK_WRITES:
        _lock_task(case)

    # 3. The run's own accounts (and the peers added as members) are not under test.
    if (method, path) in {("PATCH", "/users/{id}"), ("DELETE", "/users/{id}")}:
        if (case.path_parameters or {}).get("id") in protected_ids():
            case.path_parameters["id"] = register("target").id

    if not _is_positive(case):
        return
    query = case.query if isinstance(case.query, dict) else None
    body = case.body if isinstance(case.body, dict) else None

    if query is not None and "cursor" in query and query["cursor"] not in _issued_cursors:
        del query["cursor"]

    if (method, path) == ("POST", "/auth/login") and body is not None:
        # Real credentials, so the success path (and its schema) is exercised too.
        someone = peer()
        name = "username" if "username" in body else "email"
        body[name], body["password"] = someone.email, someone.password
    elif (method, path) == ("POST", "/auth/refresh") and body is not None:
        body["refresh_token"] = register("refresh").refresh_token
    elif (method, path) == ("PUT", "/users/me/password") and body is not None:
        user = register("password")
        case.headers["Authorization"] = f"Bearer {user.token}"
        body["current_password"] = user.password
    elif (method, path) == ("POST", "/projects") and body is not None:
        _fix_project_dates(body, patch=False)
    elif (method, path) == ("PATCH", "/projects/{id}") and body is not None:
        _fix_project_dates(body, patch=True)
    elif (method, path) == ("POST", "/projects/{id}/members") and body is not None:
        someone = peer()
        if isinstance(body.get("user_id"), str):
            body["user_id"] = someone.id
        if isinstance(body.get("email"), str):
            body["email"] = someone.email
    elif (method, path) == ("POST", "/users/me/tokens") and body is not None:
        _fix_token(body, _bearer(case) or account("member").token)
    elif (method, path) in {("POST", "/projects/{id}/webhooks"), ("PATCH", "/webhooks/{id}")} and body is not None:
        _fix_webhook_url(body)
    elif (method, path) in {("POST", "/tasks"), ("PATCH", "/tasks/{id}")} and body is not None:
        _fix_labels(body)
        _fix_assignee(body)
    elif (method, path) == ("PATCH", "/tasks/{id}/move"):
        target = body if body is not None else query
        if target is not None:
            target.pop("before_id", None)
            target.pop("after_id", None)
        if body is None and (query is None or not query.get("status")):
            statuses = ["todo", "in_progress", "review", "done"]
            case.query = {**(query or {}), "status": statuses[next(_turn) % 4]}
    elif path in {"/reports/projects/{id}/cumulative-flow", "/reports/projects/{id}/burndown"} and query is not None:
        _fix_report_range(query)

    if (method, path) in {("PATCH", "/tasks/{id}"), ("DELETE", "/tasks/{id}"), ("PATCH", "/tasks/{id}/move")}:
        _fix_if_match(case)


@schemathesis.hook
def after_network_error(ctx, case, request):
    _unlock_task()


@schemathesis.hook
def after_call(ctx, case, response):
    _unlock_task()
    if not 200 <= response.status_code < 300:
        return
    method, path = case.operation.method.upper(), case.operation.path
    try:
        data = response.json()
    except Exception:
        return
    if isinstance(data, dict) and isinstance(data.get("next_cursor"), str):
        with _lock:
            _issued_cursors.add(data["next_cursor"])
    # The member may change its own email: keep signing in with the current one.
    if (method, path) == ("PATCH", "/users/me") and isinstance(data, dict):
        with _lock:
            for acc in _accounts.values():
                if acc.id == data.get("id"):
                    acc.email = data.get("email", acc.email)
