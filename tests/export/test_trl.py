"""The trl export goes through TRL's own DPO data utilities with the default model's
tokenizer: the steps DPOTrainer runs before tokenizing (extract the prompt, apply the
chat template) accept every row and give the expected text."""
import json

import pytest
from datasets import load_dataset
from django.conf import settings
from django.core.management import call_command
from transformers import AutoTokenizer
from trl.data_utils import extract_prompt, is_conversational, maybe_apply_chat_template, maybe_extract_prompt

from curation.exports import ExportOptions, export_write

from .conftest import DEFAULT_PAIRS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tokenizer(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("prepare_model", verbosity=0)  # converted once per machine, reused here
    return AutoTokenizer.from_pretrained(settings.CONCORD_MODEL_PATH)


def export(project, tmp_path, name, **options):
    export_write(project=project, options=ExportOptions.from_dict({"format": "trl", **options}),
                 output=tmp_path / name / "data.jsonl")
    return load_dataset("json", data_files=str(tmp_path / name / "data.jsonl"), split="train",
                        cache_dir=str(tmp_path / "hf-cache"))


def test_standard_rows_through_dpo_utilities(export_project, tmp_path, tokenizer):
    dataset = export(export_project, tmp_path, "standard", margin="abs_s")
    assert dataset.num_rows == DEFAULT_PAIRS
    assert not is_conversational(dataset[0])
    processed = dataset.map(maybe_extract_prompt).map(maybe_apply_chat_template, fn_kwargs={"processing_class": tokenizer})
    for before, after in zip(dataset, processed):
        # Standard rows pass through unchanged: the prompt is the exact prompt text.
        assert (after["prompt"], after["chosen"], after["rejected"]) == (before["prompt"], before["chosen"], before["rejected"])
        assert before["chosen"] != before["rejected"] and before["margin"] in (1.0, 2.0)


def test_conversational_rows_through_chat_template(conversation_project, tmp_path, tokenizer):
    dataset = export(conversation_project, tmp_path, "chat", conversational=True)
    assert all(is_conversational(row) for row in dataset)
    processed = dataset.map(maybe_extract_prompt).map(maybe_apply_chat_template, fn_kwargs={"processing_class": tokenizer})
    chat = next(row for row, raw in zip(processed, dataset) if raw["prompt"][0]["role"] == "system")
    assert chat["prompt"].startswith("<|im_start|>system\nYou are terse.<|im_end|>")
    assert chat["prompt"].endswith("<|im_start|>user\nAnother one?<|im_end|>\n<|im_start|>assistant\n")
    assert chat["chosen"].startswith("Green.") and chat["rejected"].startswith("I would rather")
    for row in processed:
        assert isinstance(row["prompt"], str) and row["prompt"].endswith("<|im_start|>assistant\n")


def test_implicit_prompt_rows_give_back_the_explicit_ones(conversation_project, tmp_path):
    implicit = export(conversation_project, tmp_path, "implicit", implicit_prompt=True, strict=True)
    explicit = export(conversation_project, tmp_path, "explicit", conversational=True, strict=True)
    assert implicit.column_names == ["chosen", "rejected"]
    extracted = [extract_prompt(dict(row)) for row in implicit]
    assert [json.dumps(row, sort_keys=True) for row in extracted] == [
        json.dumps(dict(row), sort_keys=True) for row in explicit
    ]
