"""Reading API objects: SDK models, their undeclared fields, and plain JSON alike."""

from __future__ import annotations

from openai.types.beta import Thread
from openai.types.beta.threads import Run

from otel_assistants import fields as f


def test_a_model_read_by_its_declared_fields() -> None:
    run = Run.construct(id="run_1", status="completed", model="gpt-4o")
    view = f.view(run)
    assert (view.get("id"), view.get("status"), view.get("model"), view.get("usage")) == (
        "run_1", "completed", "gpt-4o", None)


def test_fields_outside_the_models_declaration_are_read_too() -> None:
    # openai 1.x builds an unknown stream event (e.g. thread.run.incomplete in 1.21) as the first
    # event model that fits, so a run's fields arrive undeclared on a Thread.
    thread = Thread.construct(id="run_1", created_at=1, metadata={}, object="thread.run", status="incomplete")
    assert f.view(thread).get("status") == "incomplete"
    assert f.view(thread).get("id") == "run_1"


def test_plain_json_and_other_objects() -> None:
    assert f.view({"status": "failed"}).get("status") == "failed"

    class Loose:
        status = "expired"

    assert f.view(Loose()).get("status") == "expired"
    assert f.view(Loose()).get("missing") is None
