"""``skillmix`` (methods.md §2.7, Instruct-SkillMix), in three modes:

* ``extract`` — one item per prompt: the skills it needs, merged by normalised name
  into the project's Skill rows (each keeps the prompts it came from);
* ``enumerate`` — one item: the model lists ``count`` skills behind good instruction following;
* ``generate`` — one item per drawn combination of k distinct skills (seeded; each
  unordered combination used once, also across jobs): a new instruction needing all
  of them and a high-quality answer. The Prompt keeps its skills in its metadata.
"""
from __future__ import annotations

import itertools
import re

from curation import services
from curation.models import Prompt, Skill

from .base import DECODING_PARAMS, PROMPT_SELECTION_PARAMS, ItemContext, Method, Param, ParamError, derived_seed, prompt_items
from .codeclm import clean_instruction

SKILL_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*(?:\*\*)?([^:\n]{2,80}?)(?:\*\*)?\s*:\s*(.+)$")
INSTRUCTION_AND_ANSWER = re.compile(r"instruction\s*:\s*(.*?)\s*answer\s*:\s*(.*)\Z", re.S | re.I)
MAX_COMBINATIONS_CONSIDERED = 100_000


def normalise_skill(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s-]", "", name.lower())).strip()


def parse_skills(output: str) -> list[tuple[str, str]]:
    """``name: definition`` lines → unique (normalised name, definition) pairs."""
    skills: dict[str, str] = {}
    for line in output.splitlines():
        match = SKILL_LINE.match(line)
        if match:
            name = normalise_skill(match.group(1))
            if name and name not in skills:
                skills[name] = match.group(2).strip()
    return list(skills.items())


def parse_instruction_and_answer(output: str) -> tuple[str, str]:
    match = INSTRUCTION_AND_ANSWER.search(output)
    if match:
        return clean_instruction(match.group(1)), match.group(2).strip()
    return clean_instruction(output), ""


def combination_key(skill_ids) -> str:
    return "-".join(str(i) for i in sorted(skill_ids))


def draw_combinations(skill_ids: list[int], k: int, n: int, seed: int, used: set[str]) -> list[tuple[int, ...]]:
    """n unused unordered combinations of k distinct skills, in a seeded order."""
    import random

    combos = list(itertools.islice(itertools.combinations(sorted(skill_ids), k), MAX_COMBINATIONS_CONSIDERED))
    random.Random(derived_seed(seed, "skillmix", k)).shuffle(combos)
    return [c for c in combos if combination_key(c) not in used][:n]


class SkillMix(Method):
    name = "skillmix"
    label = "Skill-mix instructions (Instruct-SkillMix)"
    description = "Extract or enumerate skills, then write instructions that need k random skills at once."
    params = (
        Param("mode", "str", "generate", "extract (skills from prompts), enumerate (skills from the model) or generate",
              choices=("extract", "enumerate", "generate")),
        Param("k", "int", 2, "skills per new instruction", minimum=1, maximum=10),
        Param("n", "int", 10, "generate: new instructions (one per combination)", minimum=1),
        Param("count", "int", 20, "enumerate: skills to ask for", minimum=1, maximum=200),
        *DECODING_PARAMS,
        *PROMPT_SELECTION_PARAMS,
    )

    def plan(self, job):
        mode = job.params["mode"]
        if mode == "extract":
            yield from prompt_items(job, "extract")
        elif mode == "enumerate":
            yield "enumerate", {}
        else:
            skill_ids = list(Skill.objects.filter(project=job.project).values_list("id", flat=True))
            k = job.params["k"]
            if len(skill_ids) < k:
                raise ParamError(
                    f"skillmix generate needs at least k={k} skills; the project has {len(skill_ids)} — "
                    "run skillmix with mode=extract or mode=enumerate first"
                )
            used = {
                (meta or {}).get("skillmix", {}).get("combination", "")
                for meta in Prompt.objects.filter(project=job.project, origin="skillmix").values_list("metadata", flat=True)
            }
            for combo in draw_combinations(skill_ids, k, job.params["n"], job.params["seed"], used):
                yield f"combo:{combination_key(combo)}", {"skill_ids": list(combo)}

    def run_item(self, ctx: ItemContext) -> None:
        mode = ctx.params["mode"]
        if mode == "extract":
            prompt = Prompt.objects.get(pk=ctx.payload["prompt_id"], project=ctx.project)
            call = ctx.generate_one("extract", "skillmix-extract", prompt=prompt.text)
            self._store_skills(ctx, call.output, "extracted", [prompt])
        elif mode == "enumerate":
            call = ctx.generate_one("enumerate", "skillmix-enumerate", count=ctx.params["count"])
            self._store_skills(ctx, call.output, "enumerated", [])
        else:
            self._generate(ctx)

    def _store_skills(self, ctx: ItemContext, output: str, source: str, prompts: list[Prompt]) -> None:
        skills = parse_skills(output)
        if not skills:
            raise ValueError("no 'name: definition' line in the model's output")
        for name, definition in skills:
            _, created = services.skill_add(project=ctx.project, name=name, definition=definition, source=source, source_prompts=prompts)
            ctx.count("skills", created)

    def _generate(self, ctx: ItemContext) -> None:
        skills = list(Skill.objects.filter(project=ctx.project, pk__in=ctx.payload["skill_ids"]).order_by("id"))
        listing = "\n".join(f"- {s.name}: {s.definition}" for s in skills)
        call = ctx.generate_one("generate", "skillmix-generate", skills=listing)
        instruction, answer = parse_instruction_and_answer(call.output)
        if not instruction:
            raise ValueError("the model wrote no instruction")
        names = [s.name for s in skills]
        prompt, created = services.prompt_add(
            project=ctx.project, text=instruction, origin="skillmix", generation_job=ctx.job,
            metadata={"skills": names, "skillmix": {"skill_ids": [s.pk for s in skills],
                                                    "combination": combination_key(s.pk for s in skills), "llm_call": call.pk}},
        )
        ctx.count("prompts" if created else "duplicates_dropped")
        if created and answer:
            _, made = services.response_add(
                prompt=prompt, text=answer, producer=ctx.params["model"], params=call.params,
                conditioning={"skillmix": names}, n_tokens=call.n_output_tokens, finish_reason=call.finish_reason,
                llm_call=call, generation_job=ctx.job,
            )
            ctx.count("responses", made)
