"""The in-memory world with CRM users and owners (pulled like any stream), and a local webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from leadsync.connectors.memory import MemoryConnector
from leadsync.connectors.port import OwnerRecord
from leadsync.domain.model import System
from leadsync.ledger import AssignmentRecord

from .conftest import World

OWNERS = "owners"
REPS = ("ivy.inside@example.com", "ian.inside@example.com", "isa.inside@example.com",
        "erin.enterprise@example.com", "emil.enterprise@example.com")


class OwnersConnector(MemoryConnector):
    """The memory fake with one more stream: its users (Salesforce) or owners (HubSpot)."""

    def streams(self) -> Sequence[str]:
        return (*super().streams(), OWNERS)

    def add_owner(self, owner_id: str, email: str, *, active: bool = True, is_queue: bool = False) -> None:
        self._put(OWNERS, owner_id, OwnerRecord(self.system, owner_id, email, active, is_queue))


def sf_user(email: str) -> str:
    return "005" + email.split(".")[0].upper()


def hs_owner(email: str) -> str:
    return str(100 + REPS.index(email))


def with_owners(world: World, *, inactive: Sequence[str] = (), synced: bool = True) -> World:
    """Swap the world's connectors for ones that also list every rep of routing.toml as a user/owner. With
    ``synced``, run the ledger's first sync (the backfill) before anybody arrives: the people a test adds
    next are new to an org leadsync already watches, so their MQLs are hand-offs (routed, clocked)."""
    world.sf = OwnersConnector(System.SALESFORCE, world.clock, page_size=3)
    world.hs = OwnersConnector(System.HUBSPOT, world.clock, page_size=3)
    for email in REPS:
        world.sf.add_owner(sf_user(email), email, active=email not in inactive)
        world.hs.add_owner(hs_owner(email), email)
    world.sf.add_owner("00GQUEUE", "inbound@example.com", is_queue=True)
    if synced:
        world.cycle()
    return world


def assignments(world: World, person_id: str | None = None) -> list[AssignmentRecord]:
    with world.ledger.reading() as uow:
        if person_id is not None:
            return uow.assignments.for_person(person_id)
        rows = uow.connection.exec_driver_sql("SELECT DISTINCT person_id FROM assignments").scalars().all()
        return sorted((a for p in rows for a in uow.assignments.for_person(str(p))), key=lambda a: a.id)


class Receiver:
    """A webhook receiver on localhost that records every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.arrived:
                    receiver.bodies.append(body)
                    receiver.arrived.notify_all()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
