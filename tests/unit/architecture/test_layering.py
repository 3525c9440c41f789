"""The layering rules a newcomer can rely on, checked on the source itself:
common knows no service; domain rules know no framework, store or broker; only the
HTTP layer knows HTTP statuses."""

from __future__ import annotations

import ast
from http import HTTPStatus
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[3] / "services"
SERVICE_NAMES = sorted(p.name for p in SERVICES.iterdir()
                       if p.is_dir() and (p / "__init__.py").exists() and p.name != "common")
# Pure modules: dataclasses and rules, testable with no Redis, no Flask, no broker.
PURE = ["availability/domain.py", "availability/engine.py", "availability/catalog_rules.py",
        "availability/commands.py", "booking/domain.py", "booking/commands.py",
        "booking/waitlist.py", "notifications/domain.py", "common/errors.py",
        "common/clock.py", "common/correlation.py", "desk/timeline.py"]
FRAMEWORKS = ("flask", "flask_smorest", "werkzeug", "redis", "kombu", "marshmallow",
              "webargs", "requests")
# The HTTP layer: where a status may be named (routes, app factories, the shared HTTP
# code, the gateway, the front desk: pages over an HTTP client, and the webhook client
# reading partners' answers). Schemas are exempt for another reason: their numbers are
# limits (a 500-character reason).
HTTP_LAYER = ("common/http.py", "gateway/", "desk/", "notifications/webhooks.py", "/api.py",
              "/app.py", "/wsgi.py", "/schemas.py")
STATUSES = {status.value for status in HTTPStatus if status.value >= 400}


def modules(folder: Path = SERVICES) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def relative(path: Path) -> str:
    return str(path.relative_to(SERVICES))


@pytest.mark.parametrize("path", modules(SERVICES / "common"), ids=relative)
def test_common_imports_no_service(path):
    services = {f"services.{name}" for name in SERVICE_NAMES}
    assert not {name for name in imported(path) if name.startswith(tuple(services))}


@pytest.mark.parametrize("path", modules(SERVICES / "desk"), ids=relative)
def test_the_desk_reaches_the_product_only_through_its_public_api(path):
    """No other service's code, no store, no bus: what the desk shows and does, a
    partner could do with the same key."""
    others = {f"services.{name}" for name in SERVICE_NAMES if name != "desk"}
    found = imported(path)
    assert not {name for name in found if name.startswith(tuple(others))}
    assert not {name.split(".")[0] for name in found} & {"redis", "kombu"}


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_framework_store_or_broker(name):
    found = {module.split(".")[0] for module in imported(SERVICES / name)}
    assert not found & set(FRAMEWORKS)


@pytest.mark.parametrize("path", [p for name in ("availability", "booking", "notifications")
                                  for p in modules(SERVICES / name)
                                  if not relative(p).endswith(HTTP_LAYER)], ids=relative)
def test_handlers_and_sagas_know_nothing_of_http(path):
    """Only the HTTP layer imports Flask or the shared HTTP code: handlers, sagas and
    workers read the request id from services.common.correlation."""
    found = {name for name in imported(path)
             if name.split(".")[0] in ("flask", "flask_smorest", "werkzeug")
             or name == "services.common.http"}
    assert not found, f"{relative(path)} imports {found}"


@pytest.mark.parametrize("path", [p for p in modules() if not relative(p).endswith(HTTP_LAYER)
                                  and not relative(p).startswith(HTTP_LAYER)], ids=relative)
def test_no_module_outside_the_http_layer_names_an_http_status(path):
    tree = ast.parse(path.read_text())
    named = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and type(node.value) is int and node.value in STATUSES]
    statuses = [node for node in ast.walk(tree)
                if isinstance(node, ast.Name | ast.Attribute)
                and getattr(node, "id", getattr(node, "attr", "")) in ("HTTPStatus",
                                                                       "status_code")]
    assert not named and not statuses, f"{relative(path)} names HTTP statuses {named}"


@pytest.mark.parametrize("path", modules(), ids=relative)
def test_every_pipeline_says_whether_it_is_a_transaction(path):
    """A Redis Cluster client makes a pipeline without MULTI unless asked: each
    pipeline says which it is, so none silently loses its atomicity there."""
    calls = [node for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "pipeline"]
    assert all(any(k.arg == "transaction" for k in call.keywords) for call in calls), (
        f"{relative(path)} calls pipeline() without transaction=")
