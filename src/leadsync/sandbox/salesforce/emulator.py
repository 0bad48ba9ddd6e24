"""The Salesforce REST emulator: routes, sessions, API usage and the emulator-specific faults.

Route names double as counter and fault endpoint names: ``token``, ``soap_login``, ``versions``,
``resources``, ``limits``, ``describe_global``, ``describe``, ``sobject.info``, ``sobject.get``,
``sobject.create``, ``sobject.update``, ``sobject.delete``, ``updated``, ``deleted``, ``query`` (query and
queryAll), ``query_more``, ``composite.sobjects`` (PATCH, update), ``composite.sobjects.create`` (POST),
``composite.sobjects.upsert``, ``composite.sobjects.delete``.

Emulator-specific fault kinds (``emulator.faults.add(kind=..., endpoint=..., params=...)``):
- ``sf_session_expiry``: the session presented on the matching call is expired -> 401 INVALID_SESSION_ID
  (a new login works again);
- ``sf_lock``: records whose ids are in ``params["ids"]`` fail with UNABLE_TO_LOCK_ROW in the matching
  write call (``params`` may override ``status_code`` and ``message`` for other per-record errors);
- ``sf_short_page``: the matching query page holds only ``params["size"]`` records (default 1) but
  still carries ``nextRecordsUrl``, as real pages may be shorter than the batch size.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from leadsync.sandbox.faults import Fault
from leadsync.sandbox.salesforce import collections
from leadsync.sandbox.salesforce.actions import UserActions
from leadsync.sandbox.salesforce.auth import ConnectedApp, Credentials, LoginService, SessionRegistry, UserLogin
from leadsync.sandbox.salesforce.describe import describe_global, describe_object, sobject_basic_info
from leadsync.sandbox.salesforce.feeds import changed_ids, deleted_ids
from leadsync.sandbox.salesforce.query_index import SortedViews
from leadsync.sandbox.salesforce.query_pages import Cursor, LocatorCache, batch_size, page
from leadsync.sandbox.salesforce.soql import SoqlError, parse
from leadsync.sandbox.salesforce.soql_eval import compile_query
from leadsync.sandbox.salesforce.store import OrgStore, RequestError, WriteError, coerce_fields, require_schema
from leadsync.sandbox.salesforce.values import normalize_id
from leadsync.sandbox.server import Emulator, Request, Response, SandboxClock

SF_SESSION_EXPIRY = "sf_session_expiry"
SF_LOCK = "sf_lock"
SF_SHORT_PAGE = "sf_short_page"
VERSIONS = (("58.0", "Summer '23"), ("59.0", "Winter '24"), ("60.0", "Spring '24"), ("61.0", "Summer '24"),
            ("62.0", "Winter '25"))
V = r"/services/data/v(?P<ver>\d{2}\.0)"
OPEN_ENDPOINTS = frozenset({"token", "soap_login", "versions", "not_found", "method_not_allowed"})


class SalesforceEmulator(UserActions, Emulator):
    system = "salesforce"

    def __init__(self, credentials: Credentials | None = None, daily_limit: int = 100_000,
                 session_lifetime: float | None = None, clock: SandboxClock | None = None) -> None:
        super().__init__(clock)
        self.credentials = credentials or Credentials()
        self.daily_limit = daily_limit
        self.api_usage = 0
        self.store = OrgStore(self.clock.now)
        self.sessions = SessionRegistry(timedelta(seconds=session_lifetime) if session_lifetime else None)
        self.login = LoginService(self.sessions)
        creds = self.credentials
        self.add_user(creds.username, creds.password, creds.security_token)
        self.add_client(creds.client_id, creds.client_secret, creds.username, creds.jwt_public_key)
        self.locators = LocatorCache()
        self.views = SortedViews()
        self.started_at = self.clock.now()
        self._install_routes()

    # ----- public helpers --------------------------------------------------------------------------
    def add_user(self, username: str, password: str, security_token: str = "", first_name: str = "API",
                 last_name: str = "User") -> str:
        """Register a login (and its User record); the password grant takes ``password + security_token``."""
        with self.lock:
            existing = self.login.users.get(username)
            user_id = existing.user_id if existing else self.create_record("User", {
                "Username": username, "Email": username if "@" in username else f"{username}@sandbox.invalid",
                "FirstName": first_name, "LastName": last_name, "Alias": username[:8], "IsActive": True,
            })
            self.login.users[username] = UserLogin(username, password, security_token, user_id)
            return user_id

    def add_client(self, client_id: str, client_secret: str, username: str | None = None,
                   jwt_public_key: str | None = None) -> None:
        """Register a connected app; client-credentials and JWT logins run as ``username``."""
        self.login.apps[client_id] = ConnectedApp(client_id, client_secret, username or self.credentials.username,
                                                  jwt_public_key)

    def new_session(self) -> str:
        """An access token for tests and tools that skip the login flow."""
        return self.sessions.open(self.credentials.username, self.clock.now()).token

    def expire_sessions(self) -> None:
        self.sessions.expire()

    def reset_api_usage(self) -> None:
        with self.lock:
            self.api_usage = 0

    # ----- hooks -----------------------------------------------------------------------------------
    def error_response(self, status: int, code: str, message: str) -> Response:
        return Response(status, [{"message": message, "errorCode": code}])

    def fault_response(self, fault: Fault) -> Response:
        if fault.body is None:
            code = "REQUEST_LIMIT_EXCEEDED" if fault.status == 429 else "SERVER_UNAVAILABLE"
            fault = Fault(**{**fault.to_json(), "body": [{"message": "injected fault", "errorCode": code}]})
        return super().fault_response(fault)

    def authorize(self, request: Request, endpoint: str) -> Response | None:
        if endpoint in OPEN_ENDPOINTS:
            return None
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        now = self.clock.now()
        if self.faults.take(endpoint, (SF_SESSION_EXPIRY,)) is not None:
            self.sessions.expire(token.strip())
        if scheme.lower() not in ("bearer", "oauth") or not self.sessions.valid(token.strip(), now):
            return self.error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        with self.lock:
            if self.api_usage >= self.daily_limit:
                return self.error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_usage += 1
        return None

    def api_user(self, request: Request) -> str:
        """The User id of the session a request came with: API writes carry it as LastModifiedById (the
        user the login's ``id`` URL names), while user actions carry another user's."""
        token = (request.header("authorization") or "").partition(" ")[2].strip()
        with self.sessions.lock:
            session = self.sessions.sessions.get(token)
        login = self.login.users.get(session.username) if session is not None else None
        return login.user_id if login is not None else self.store.default_user_id

    def decorate(self, response: Response, endpoint: str) -> None:
        if endpoint not in OPEN_ENDPOINTS:
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage}/{self.daily_limit}"

    # ----- routes ------------------------------------------------------------------------------------
    def _install_routes(self) -> None:
        routes: list[tuple[str, str, str, Callable[[Request], Response]]] = [
            ("POST", r"/services/oauth2/token", "token", self._token),
            ("POST", r"/services/Soap/u/(?P<ver>\d{2}\.0)", "soap_login", self._soap_login),
            ("GET", r"/services/data/?", "versions", self._versions),
            ("GET", V + "/?", "resources", self._resources),
            ("GET", V + "/limits/?", "limits", self._limits),
            ("GET", V + "/sobjects/?", "describe_global", self._describe_global),
            ("GET", V + r"/sobjects/(?P<type>\w+)/describe/?", "describe", self._describe),
            ("GET", V + r"/sobjects/(?P<type>\w+)/updated/?", "updated", self._updated),
            ("GET", V + r"/sobjects/(?P<type>\w+)/deleted/?", "deleted", self._deleted),
            ("GET", V + r"/sobjects/(?P<type>\w+)/?", "sobject.info", self._sobject_info),
            ("POST", V + r"/sobjects/(?P<type>\w+)/?", "sobject.create", self._create),
            ("GET", V + r"/sobjects/(?P<type>\w+)/(?P<id>[A-Za-z0-9]{15,18})/?", "sobject.get", self._get),
            ("PATCH", V + r"/sobjects/(?P<type>\w+)/(?P<id>[A-Za-z0-9]{15,18})/?", "sobject.update", self._update),
            ("DELETE", V + r"/sobjects/(?P<type>\w+)/(?P<id>[A-Za-z0-9]{15,18})/?", "sobject.delete",
             self._delete),
            ("GET", V + r"/(?P<ep>query|queryAll)/?", "query", self._query),
            ("GET", V + r"/(?P<ep>query|queryAll)/(?P<locator>01g\w+)-(?P<offset>\d+)/?", "query_more",
             self._query_more),
            ("PATCH", V + r"/composite/sobjects/?", "composite.sobjects", self._collection_update),
            ("POST", V + r"/composite/sobjects/?", "composite.sobjects.create", self._collection_create),
            ("DELETE", V + r"/composite/sobjects/?", "composite.sobjects.delete", self._collection_delete),
            ("PATCH", V + r"/composite/sobjects/(?P<type>\w+)/(?P<field>\w+)/?", "composite.sobjects.upsert",
             self._collection_upsert),
        ]
        for method, pattern, name, handler in routes:
            self.route(method, pattern, name, self._guarded(handler))

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Turn the API's request-level errors into the real 400 bodies."""
        def run(request: Request) -> Response:
            try:
                return handler(request)
            except RequestError as error:
                status = 404 if error.code == "NOT_FOUND" else 400
                return self.error_response(status, error.code, error.message)
            except SoqlError as error:
                return self.error_response(400, error.code, error.message)
            except ValueError as error:  # an unparsable JSON body
                return self.error_response(400, "JSON_PARSER_ERROR", f"Unexpected character: {error}")
        return run

    def _token(self, request: Request) -> Response:
        return self.login.token(request, self.base_url, self.clock.now())

    def _soap_login(self, request: Request) -> Response:
        return self.login.soap_login(request, self.base_url, request.params["ver"], self.clock.now())

    def _versions(self, _: Request) -> Response:
        return Response(200, [{"label": label, "url": f"/services/data/v{v}", "version": v} for v, label in VERSIONS])

    def _resources(self, request: Request) -> Response:
        base = f"/services/data/v{request.params['ver']}"
        names = ("limits", "query", "queryAll", "sobjects", "composite")
        return Response(200, {name: f"{base}/{name}" for name in names})

    def _limits(self, _: Request) -> Response:
        with self.lock:
            remaining = max(0, self.daily_limit - self.api_usage)
        return Response(200, {"DailyApiRequests": {"Max": self.daily_limit, "Remaining": remaining}})

    def _describe_global(self, request: Request) -> Response:
        return Response(200, describe_global(request.params["ver"]))

    def _describe(self, request: Request) -> Response:
        return Response(200, describe_object(require_schema(request.params["type"]), request.params["ver"],
                                             self.base_url))

    def _sobject_info(self, request: Request) -> Response:
        return Response(200, sobject_basic_info(require_schema(request.params["type"]), request.params["ver"]))

    # ----- single records ---------------------------------------------------------------------------
    def _get(self, request: Request) -> Response:
        schema = require_schema(request.params["type"])
        record_id = normalize_id(request.params["id"]) or ""
        with self.lock:
            record = self.store.get(schema.name, record_id)
        if record is None:
            return self.error_response(404, "NOT_FOUND", "The requested resource does not exist")
        wanted = request.arg("fields")
        names = [n.strip() for n in wanted.split(",")] if wanted else [f.name for f in schema.fields]
        body: dict[str, Any] = {"attributes": {"type": schema.name, "url": request.path.rstrip("/")}}
        for name in names:
            spec = schema.field(name)
            if spec is None:
                return self.error_response(400, "INVALID_FIELD", f"No such column '{name}' on entity '{schema.name}'")
            body[spec.name] = record.get(spec.name)
        return Response(200, body)

    def _create(self, request: Request) -> Response:
        schema = require_schema(request.params["type"])
        values = coerce_fields(schema, request.json() or {})
        with self.lock:
            try:
                self.store.check(schema, values, None)
            except WriteError as error:
                return Response(400, [{"message": error.message, "errorCode": error.status_code,
                                       "fields": error.fields}])
            record = self.store.insert(schema, values, self.api_user(request))
        return Response(201, {"id": record["Id"], "success": True, "errors": []})

    def _update(self, request: Request) -> Response:
        schema = require_schema(request.params["type"])
        values = coerce_fields(schema, request.json() or {})
        with self.lock:
            missing = self.store.find_missing(schema, request.params["id"])
            if missing is not None:
                return self.error_response(404, "NOT_FOUND", "The requested resource does not exist")
            existing = self.store.get(schema.name, str(normalize_id(request.params["id"])))
            assert existing is not None
            try:
                locked = self._lock_check("sobject.update")(existing["Id"])
                if locked is not None:
                    raise locked
                self.store.check(schema, values, existing)
            except WriteError as error:
                return Response(400, [{"message": error.message, "errorCode": error.status_code,
                                       "fields": error.fields}])
            self.store.update(schema, existing, values, self.api_user(request))
        return Response(204)

    def _delete(self, request: Request) -> Response:
        schema = require_schema(request.params["type"])
        with self.lock:
            existing = self.store.get(schema.name, normalize_id(request.params["id"]) or "")
            if existing is None:
                return self.error_response(404, "NOT_FOUND", "The requested resource does not exist")
            self.store.delete(schema, existing)
        return Response(204)

    # ----- queries -----------------------------------------------------------------------------------
    def _query(self, request: Request) -> Response:
        text = request.arg("q")
        if not text:
            return self.error_response(400, "MALFORMED_QUERY", "A query string has to be specified")
        include_deleted = request.params["ep"] == "queryAll"
        with self.lock:
            compiled = compile_query(parse(text), self.store.lookup, self.clock.now(),
                                     lambda type_name: self.store.scan(type_name, False))
            rows = self.views.select(self.store, compiled, include_deleted)
        if compiled.count_only:
            return Response(200, {"totalSize": len(rows), "done": True, "records": []})
        cursor = Cursor(compiled, rows, batch_size(request.header("sforce-query-options")), request.params["ep"])
        size = self._page_size(cursor, "query")
        locator = self.locators.open(cursor) if size < len(rows) else None
        return Response(200, page(cursor, locator, 0, size, request.params["ver"]))

    def _query_more(self, request: Request) -> Response:
        locator = request.params["locator"]
        cursor = self.locators.get(locator)
        if cursor is None:
            return self.error_response(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        start = int(request.params["offset"])
        size = self._page_size(cursor, "query_more")
        body = page(cursor, locator, start, size, request.params["ver"])
        if body["done"]:
            self.locators.close(locator)
        return Response(200, body)

    def _page_size(self, cursor: Cursor, endpoint: str) -> int:
        short = self.faults.take(endpoint, (SF_SHORT_PAGE,))
        if short is not None:
            return max(1, int(short.params.get("size", 1)))
        return cursor.batch

    # ----- collections -------------------------------------------------------------------------------
    def _lock_check(self, endpoint: str) -> collections.LockCheck:
        fault = self.faults.take(endpoint, (SF_LOCK,))
        if fault is None:
            return lambda _: None
        ids = {normalize_id(i) for i in fault.params.get("ids", [])}
        code = str(fault.params.get("status_code", "UNABLE_TO_LOCK_ROW"))

        def check(record_id: str) -> WriteError | None:
            if record_id not in ids:
                return None
            message = fault.params.get("message") or (
                f"unable to obtain exclusive access to this record or 1 records: {record_id}")
            return WriteError(code, str(message))

        return check

    def _collection_update(self, request: Request) -> Response:
        with self.lock:
            plans, all_or_none = collections.plan_update(self.store, request.json(),
                                                         self._lock_check("composite.sobjects"))
            return Response(200, collections.apply(self.store, plans, all_or_none, self.api_user(request)))

    def _collection_create(self, request: Request) -> Response:
        with self.lock:
            plans, all_or_none = collections.plan_create(self.store, request.json())
            return Response(200, collections.apply(self.store, plans, all_or_none, self.api_user(request)))

    def _collection_upsert(self, request: Request) -> Response:
        with self.lock:
            plans, all_or_none = collections.plan_upsert(
                self.store, request.params["type"], request.params["field"], request.json(),
                self._lock_check("composite.sobjects.upsert"))
            return Response(200, collections.apply(self.store, plans, all_or_none, self.api_user(request)))

    def _collection_delete(self, request: Request) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
        with self.lock:
            return Response(200, collections.delete(self.store, ids, all_or_none,
                                                    self._lock_check("composite.sobjects.delete")))

    # ----- change feeds --------------------------------------------------------------------------------
    def _updated(self, request: Request) -> Response:
        schema = require_schema(request.params["type"])
        with self.lock:
            return Response(200, changed_ids(self.store, schema, request.arg("start"), request.arg("end"),
                                             self.clock.now()))

    def _deleted(self, request: Request) -> Response:
        schema = require_schema(request.params["type"])
        with self.lock:
            return Response(200, deleted_ids(self.store, schema, request.arg("start"), request.arg("end"),
                                             self.clock.now(), self.started_at))

