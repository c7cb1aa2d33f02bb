"""The JSON Schema of pipeline files, generated from the models, for editors."""

from __future__ import annotations

import json
from typing import Any

from release.pipeline.model import Pipeline

SCHEMA_ID = "https://github.com/release-pipeline/release-pipeline/blob/main/release/pipeline/schema.json"


def schema() -> dict[str, Any]:
    data = Pipeline.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **data}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
