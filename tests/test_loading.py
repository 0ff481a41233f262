"""The one `module:attr` loader (agent classes, env entry points, sandbox backends) and the
one-line form of a pydantic validation report."""

from __future__ import annotations

import collections
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotmess.errors import validation_problems
from hotmess.loading import MissingObjectError, load_object


def test_load_object_follows_module_and_dotted_name():
    assert load_object("json:dumps") is json.dumps
    assert load_object("collections:OrderedDict.fromkeys") == collections.OrderedDict.fromkeys
    assert load_object("hotmess.envs.kvsum:KVSumEnv").__name__ == "KVSumEnv"


def test_load_object_tells_a_missing_module_from_a_missing_name():
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        load_object("no_such_module:Thing")
    with pytest.raises(MissingObjectError, match="cannot import name 'Nope' from 'json'"):
        load_object("json:Nope")
    assert issubclass(MissingObjectError, ImportError)  # callers that catch ImportError see both
    for malformed in ("json", ":dumps", "json:"):
        with pytest.raises(ValueError, match="not a `module:name` reference"):
            load_object(malformed)


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_mb: int = Field(512, ge=64)
    cpus: list[float] = []

    @model_validator(mode="after")
    def _enough(self) -> Limits:
        if self.memory_mb == 100:
            raise ValueError("100 is unlucky")
        return self


def problems(data: dict, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        Limits.model_validate(data)
    return validation_problems(caught.value, **kwargs)


def test_validation_problems_is_one_line_naming_each_field():
    text = problems({"memory_mb": 1, "cpus": [1, "x"], "gpu": 1})
    assert text == (
        "memory_mb: Input should be greater than or equal to 64; "
        "cpus.1: Input should be a valid number, unable to parse string as a number; "
        "gpu: Extra inputs are not permitted"
    )
    assert "\n" not in text


def test_validation_problems_names_unknown_options_and_whole_model_errors():
    assert problems({"gpu": 1}, takes=Limits.model_fields) == (
        "unknown option 'gpu' (it takes: memory_mb, cpus)"
    )
    assert problems({"gpu": 1}, takes=[]) == "unknown option 'gpu' (it takes: no options)"
    assert problems({"memory_mb": 100}, whole="limits") == "limits: Value error, 100 is unlucky"
