"""Property-based fuzzing of the web service against its own OpenAPI
document (schemathesis): no 5xx, and every answer conforms to the document
(status codes, content types, schemas). The document is the app's own; the
requests go to a real server process on loopback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from test_server import Server

from prosopo.server import Settings, create_app

with tempfile.TemporaryDirectory() as _folder:
    schema = schemathesis.openapi.from_dict(create_app(Settings(data=Path(_folder))).openapi())


MODELS = Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "minifasnet"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    if not MODELS.is_dir():  # without them, anti_spoofing requests rightly answer 503
        pytest.skip(f"the MiniFASNet files are absent ({MODELS}); the fuzzer covers anti_spoofing too")
    from prosopo import liveness

    home = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROSOPO_MODELS", str(home))
        liveness.add(MODELS)
    s = Server(tmp_path_factory.mktemp("fuzz"), env={"PROSOPO_MODELS": str(home)})
    s.token = s.key("fuzz")
    yield s
    s.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case, fuzz_server):
    # Every check but positive_data_acceptance: a schema-valid request may
    # still carry an image that is not a face, or not an image (400/422).
    case.call_and_validate(base_url=fuzz_server.url, headers={"Authorization": f"Bearer {fuzz_server.token}"},
                           excluded_checks=[positive_data_acceptance], timeout=60)
