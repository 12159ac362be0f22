"""Property-based API tests with schemathesis: every operation of the OpenAPI schema is
called with generated input through the real app (real SQLite file, real lifespan), with a
key of a role the route allows; no answer may be a 5xx or break the route's response
schema. Bounded (MAX_EXAMPLES per operation) so the whole file runs in well under two
minutes on two cores. The schema itself must give every operation a summary."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.app import create_app
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api
from tests.integration.test_roles import ALLOWED, PUBLIC

MAX_EXAMPLES = 12
schema = schemathesis.openapi.from_dict(create_app(Settings(anchor_enabled=False)).openapi())
schemathesis.serializer.alias("application/zip", "application/octet-stream")

# 5xx found by this test in routes of other slices, reported to the lead with the request;
# their failures are reported as warnings until fixed (remove the entry with the fix).
KNOWN_5XX: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = Path(tmp_path_factory.mktemp("schemathesis"))
    with running_api(Settings(data_dir=data, checkpoint_interval=0.05,
                              anchor_enabled=False)) as a:
        a.post_events([make_event("e-1", "L-1"), make_event("e-2", "L-2")])
        a.wait_checkpoint(2)
        yield a


def _role(method: str, path: str) -> str | None:
    allowed = ALLOWED.get((method.upper(), path), frozenset({"admin"}))
    if allowed is PUBLIC:
        return None
    return "admin" if "admin" in allowed else min(allowed)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_fits_its_schema(case: Any, api: Api) -> None:
    role = _role(case.method, case.path)
    headers = {} if role is None else api.headers(role)
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    kwargs.pop("base_url", None)
    known = KNOWN_5XX.get((case.method.upper(), case.path))
    try:
        response = api.client.request(**{k: v for k, v in kwargs.items()
                                         if k in ("method", "url", "headers", "params", "content",
                                                  "json", "data", "files", "cookies")})
        case.validate_response(response, checks=[not_a_server_error,
                                                 response_schema_conformance])
    except Exception as exc:
        if known is None:
            raise
        # hypothesis turns an xfail inside examples into a failure: say it loudly instead
        warnings.warn(f"known 5xx on {case.method} {case.path} (reported: {known}): "
                      f"{type(exc).__name__}: {exc}", stacklevel=1)


def test_every_operation_has_a_summary() -> None:
    paths = schema.raw_schema["paths"]
    missing = [f"{m.upper()} {p}" for p, ops in paths.items() for m, op in ops.items()
               if not op.get("summary")]
    assert not missing, f"operations without a summary: {missing}"


def test_every_operation_documents_an_example() -> None:
    spec = create_app(Settings(anchor_enabled=False)).openapi()
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            bodies = list(op.get("requestBody", {}).get("content", {}).values())
            bodies += [c for r in op.get("responses", {}).values()
                       for c in r.get("content", {}).values()]
            params = op.get("parameters", [])
            if not (any("example" in b or "examples" in b for b in bodies)
                    or any("example" in p or "examples" in p or "examples" in p.get("schema", {})
                           for p in params)):
                missing.append(f"{method.upper()} {path}")
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
    assert missing == []
