"""Fuzz every operation of the OpenAPI schema against the real app: no input may cause a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from api.keys import KeyStore
from api.service import LoreService
from core.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FUZZ_EXAMPLES = 12  # per operation: a small budget that still covers every route on each run


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory, graph_server):
    info = graph_server.start()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("lore-fuzz"),
        graph_uri=info.uri,
        graph_user=info.user,
        graph_password=info.password,
        graph_database=info.database,
        max_new_tokens=4,
        rate_limit="",
    )
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        service.ingest([EXAMPLES / "docs" / "org-chart.md"], collection="default")
        with KeyStore(settings.api_db_path) as keys:
            _, secret = keys.create("fuzz", ["admin"])
        yield create_app(service=service), secret, service


# The schema does not depend on the data: take it from an app that is never started.
# The coverage phase's exhaustive boundary cases run the LLM hundreds of times: too slow for every CI run.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}}, "generation": {"max-examples": FUZZ_EXAMPLES}}
)
schema = schemathesis.openapi.from_dict(create_app(Settings(data_dir=Path("unused"))).openapi(), config=CONFIG)


def _call(case, fuzz_target) -> None:
    app, secret, _ = fuzz_target
    case.call_and_validate(
        app=app, timeout=120, headers={"Authorization": f"Bearer {secret}"},
        checks=[not_a_server_error, response_schema_conformance],
    )


FUZZ_SETTINGS = hypothesis_settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
GENERATION = "^/v1/(ask|chat/completions)"


@schema.exclude(path_regex=GENERATION).parametrize()
@FUZZ_SETTINGS
def test_no_input_causes_a_server_error(case, fuzz_target):
    _call(case, fuzz_target)


# Each generated question runs the LLM: minutes on a 2-core machine.
@pytest.mark.slow
@schema.include(path_regex=GENERATION).parametrize()
@FUZZ_SETTINGS
def test_no_question_causes_a_server_error(case, fuzz_target):
    fuzz_target[2].answerer  # load the LLM before the first request's timeout starts
    _call(case, fuzz_target)
