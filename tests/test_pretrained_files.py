"""The shared config.json + model.safetensors format."""

import json

import pytest
import torch

from adaconv_gen.errors import UserInputError
from adaconv_gen.models.pretrained_files import read_pretrained, write_pretrained


def test_round_trip_and_no_temp_files(tmp_path):
    t = {"a.weight": torch.randn(3, 2), "b": torch.arange(4)}
    write_pretrained(tmp_path / "m", {"width": 8}, t)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    cfg, got = read_pretrained(tmp_path / "m", "test model")
    assert cfg == {"width": 8} and json.loads((tmp_path / "m" / "config.json").read_text()) == cfg
    assert set(got) == set(t) and all(torch.equal(got[k], t[k]) for k in t)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(UserInputError, match="not a saved test model: config.json missing"):
        read_pretrained(tmp_path, "test model")
    write_pretrained(tmp_path, {}, {"x": torch.ones(1)})
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserInputError, match="cannot read weights .*model.safetensors"):
        read_pretrained(tmp_path, "test model")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UserInputError, match="cannot read .*config.json"):
        read_pretrained(tmp_path, "test model")
