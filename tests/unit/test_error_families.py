"""The error families: one root below every package, one family per package, the HTTP
status of each service error unchanged by the move into `service.errors` (issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from anchoring.errors import AnchoringError, RegistryError, RegistryRevert
from cunzheng_verify.errors import CunzhengError
from dispute.errors import DisputeError
from lending_core.errors import LendingError
from service import errors as service_errors
from service.errors import (
    AuthError,
    CaseBuildUnavailable,
    DemoError,
    DevnetFailed,
    ForbiddenError,
    IncompleteBody,
    InputError,
    MonitoringError,
    ServiceError,
    VerificationInputError,
)
from service.problems import for_error

PROJECT = ("lending_core", "anchoring", "dispute", "service", "cunzheng_devnet")


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys; {statement}; import json; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [m for m in json.loads(done.stdout) if m in PROJECT]


def test_the_root_error_module_imports_nothing_from_the_project() -> None:
    assert _loaded_after("import cunzheng_verify.errors") == []


def test_the_log_errors_do_not_import_the_loan_domain() -> None:
    assert _loaded_after("import anchoring.errors") == ["anchoring"]


def test_the_devnet_stands_alone() -> None:
    assert _loaded_after("import cunzheng_devnet") == ["cunzheng_devnet"]


@pytest.mark.parametrize("family", [LendingError, AnchoringError, DisputeError, ServiceError])
def test_every_family_derives_from_the_root(family: type[Exception]) -> None:
    assert issubclass(family, CunzhengError)


def test_registry_errors_live_in_the_log_family() -> None:
    assert RegistryError.__module__ == "anchoring.errors"
    assert issubclass(RegistryError, AnchoringError)
    revert = RegistryRevert("UnknownSize", {"size": 7, "root": b"\x01\x02"}, "0xdead")
    assert str(revert) == "AnchorRegistry reverted: UnknownSize(size=7, root=0x0102)"


def test_service_errors_are_neither_log_nor_lending_errors() -> None:
    for name in service_errors.__all__:
        cls = getattr(service_errors, name)
        assert issubclass(cls, ServiceError), name
        assert not issubclass(cls, AnchoringError | LendingError), name


@pytest.mark.parametrize(("error", "status", "kind"), [
    # the statuses these errors had when they derived from AnchoringError or LendingError
    (AuthError("no key"), 401, "unauthorized"),
    (ForbiddenError("not yours"), 403, "forbidden"),
    (VerificationInputError("not a zip"), 400, "bad-request"),
    (InputError("nothing"), 400, "bad-request"),
    (CaseBuildUnavailable("no builder"), 400, "bad-request"),
    (IncompleteBody("cut short"), 400, "bad-request"),
    (DemoError("failed"), 400, "bad-request"),
    (DevnetFailed("in use"), 400, "bad-request"),
    (MonitoringError("as_of after the run"), 422, "invalid-lending-data"),
])
def test_service_errors_keep_their_http_status(error: ServiceError, status: int,
                                               kind: str) -> None:
    response = for_error(error)
    body = json.loads(response.body)
    assert (response.status_code, body["type"], body["detail"]) == (
        status, f"https://cunzheng.dev/problems/{kind}", str(error))
