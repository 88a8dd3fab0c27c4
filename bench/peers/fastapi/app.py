"""The seed's own stack as a benchmark peer: an idiomatic FastAPI + SQLAlchemy 2 (async,
asyncpg) + PyJWT service implementing FlowTrack's authenticated task read and task create on
the same PostgreSQL schema (FlowTrack's migrations create it).

Run: PEER_DATABASE_URL=postgresql+asyncpg://… PEER_JWT_SECRET=… uvicorn app:app --workers 2
"""

import datetime as dt
import json
import os
import time
import uuid
from typing import Optional

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine(os.environ["PEER_DATABASE_URL"], pool_size=16, max_overflow=0)
Session = async_sessionmaker(engine, expire_on_commit=False)
SECRET = os.environ["PEER_JWT_SECRET"]
app = FastAPI()


def ts(value: Optional[dt.datetime]) -> Optional[str]:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_json(row) -> dict:
    return {
        "id": str(row.id),
        "project_id": str(row.project_id),
        "title": row.title,
        "description": row.description,
        "status": row.status,
        "priority": row.priority,
        "assignee_id": str(row.assignee_id) if row.assignee_id else None,
        "labels": json.loads(row.labels),
        "created_by": str(row.created_by),
        "due_date": row.due_date.isoformat() if row.due_date else None,
        "position": row.position,
        "version": row.version,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "completed_at": ts(row.completed_at),
    }


async def current_user(authorization: str = Header(...)):
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise HTTPException(401)
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="flowtrack", issuer="flowtrack")
    except jwt.PyJWTError:
        raise HTTPException(401)
    if claims.get("typ") != "access":
        raise HTTPException(401)
    async with Session() as session:
        user = (
            await session.execute(
                text("SELECT id, role, is_active FROM users WHERE id = :id"), {"id": claims["sub"]}
            )
        ).first()
    if user is None or not user.is_active:
        raise HTTPException(401)
    return user


async def role_in(session, project_id, user) -> Optional[str]:
    if user.role == "admin":
        return "owner"
    row = (
        await session.execute(
            text("SELECT role FROM project_members WHERE project_id = :p AND user_id = :u"),
            {"p": project_id, "u": user.id},
        )
    ).first()
    return row.role if row else None


@app.get("/tasks/{task_id}")
async def get_task(task_id: uuid.UUID, user=Depends(current_user)):
    async with Session() as session:
        row = (await session.execute(text("SELECT * FROM tasks WHERE id = :id"), {"id": task_id})).first()
        if row is None or await role_in(session, row.project_id, user) is None:
            raise HTTPException(404)
        return task_json(row)


class NewTask(BaseModel):
    project_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    status: str = "todo"
    priority: str = "medium"
    assignee_id: Optional[uuid.UUID] = None
    labels: list[str] = []
    due_date: Optional[dt.date] = None


@app.post("/tasks", status_code=201)
async def create_task(body: NewTask, user=Depends(current_user)):
    now = dt.datetime.now(dt.timezone.utc)
    async with Session() as session, session.begin():
        project = (
            await session.execute(
                text("SELECT id, event_seq FROM projects WHERE id = :id FOR UPDATE"), {"id": body.project_id}
            )
        ).first()
        if project is None:
            raise HTTPException(404)
        role = await role_in(session, project.id, user)
        if role is None:
            raise HTTPException(404)
        if role == "viewer":
            raise HTTPException(403)
        await session.execute(
            text(
                "SELECT position FROM tasks WHERE project_id = :p AND status = :s "
                "ORDER BY position DESC LIMIT 1"
            ),
            {"p": project.id, "s": body.status},
        )
        task_id = uuid.uuid4()
        row = (
            await session.execute(
                text(
                    "INSERT INTO tasks (id, project_id, title, description, status, priority, assignee_id, "
                    "labels, created_by, due_date, position, version, created_at, updated_at, completed_at) "
                    "VALUES (:id, :p, :title, :d, :s, :pr, :a, :l, :u, :due, :pos, 1, :now, :now, NULL) "
                    "RETURNING *"
                ),
                {
                    "id": task_id, "p": project.id, "title": body.title, "d": body.description,
                    "s": body.status, "pr": body.priority, "a": body.assignee_id,
                    "l": json.dumps(body.labels), "u": user.id, "due": body.due_date,
                    "pos": f"{time.time_ns():020d}{task_id.hex[:6]}", "now": now,
                },
            )
        ).first()
        task = task_json(row)
        seq = project.event_seq + 1
        await session.execute(
            text(
                "INSERT INTO activity_log (id, user_id, project_id, task_id, action, details, created_at) "
                "VALUES (:id, :u, :p, :t, 'task.created', :d, :now)"
            ),
            {"id": uuid.uuid4(), "u": user.id, "p": project.id, "t": task_id,
             "d": json.dumps({"status": body.status, "title": body.title}), "now": now},
        )
        await session.execute(
            text("UPDATE projects SET event_seq = :seq WHERE id = :p"), {"seq": seq, "p": project.id}
        )
        payload = {"type": "task.created", "project_id": str(project.id), "seq": seq,
                   "actor_id": str(user.id), "at": ts(now), "data": {"task": task}}
        await session.execute(
            text(
                "INSERT INTO events (project_id, seq, event_type, actor_id, payload, created_at) "
                "VALUES (:p, :seq, 'task.created', :u, :payload, :now)"
            ),
            {"p": project.id, "seq": seq, "u": user.id, "payload": json.dumps(payload), "now": now},
        )
    return task
