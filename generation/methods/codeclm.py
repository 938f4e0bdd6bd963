"""``codeclm`` (methods.md §2.6, CodecLM): encode seed prompts into metadata (use case,
skills), decode new instructions from the metadata, and make them harder with
Self-Rubrics. Every version is a Prompt with ``origin = codeclm`` and a parent link,
so the chain seed → decoded → improved is kept.
"""
from __future__ import annotations

import re

from curation import services
from curation.models import Prompt

from .base import DECODING_PARAMS, PROMPT_SELECTION_PARAMS, ItemContext, Method, Param, prompt_items

USE_CASE_LINE = re.compile(r"use[ _-]?case\s*:\s*(.+)", re.I)
SKILLS_LINE = re.compile(r"skills?\s*:\s*(.+)", re.I)
ACTION_LINE = re.compile(r"action\s*:\s*(.+)", re.I)
LABEL_PREFIX = re.compile(r"^\s*(new |rewritten )?instruction\s*:\s*", re.I)
MAX_SKILLS = 5


def parse_metadata(output: str) -> dict:
    """``Use case: …`` and ``Skills: a, b`` lines → {use_case, skills[≤5]}; the last match counts."""
    use_cases = USE_CASE_LINE.findall(output)
    if not use_cases:
        raise ValueError("the encoder's output has no 'Use case:' line")
    skills_lines = SKILLS_LINE.findall(output)
    skills = []
    for skill in (skills_lines[-1].split(",") if skills_lines else []):
        skill = skill.strip(" .;*-\t").lower()
        if skill and skill not in skills:
            skills.append(skill)
    return {"use_case": use_cases[-1].strip(" .*"), "skills": skills[:MAX_SKILLS]}


def clean_instruction(output: str) -> str:
    """The model's instruction without a leading 'Instruction:' label or wrapping quotes."""
    text = LABEL_PREFIX.sub("", output.strip()).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def parse_action(output: str) -> str:
    """The last 'Action:' line, else the last non-empty line."""
    actions = ACTION_LINE.findall(output)
    if actions:
        return actions[-1].strip()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the Self-Rubrics output is empty")
    return lines[-1]


def prompt_codeclm_metadata(prompt: Prompt) -> dict:
    """Use case and skills of a prompt: its own, its CodecLM encoding, or a general default."""
    meta = prompt.metadata or {}
    encoded = meta.get("codeclm") or {}
    return {
        "use_case": meta.get("use_case") or encoded.get("use_case") or "general assistance",
        "skills": meta.get("skills") or encoded.get("skills") or [],
    }


def self_rubric_round(ctx: ItemContext, instruction: Prompt, meta: dict, step: str, round_number: int, model: str | None = None) -> Prompt:
    """One Self-Rubrics round: rubrics and an action for the instruction, the action applied;
    the harder instruction is a new Prompt whose parent is the one it improves."""
    skills = ", ".join(meta["skills"]) or "(none listed)"
    rubric = ctx.generate_one(f"{step}-rubric", "codeclm-self-rubric", model=model,
                              use_case=meta["use_case"], skills=skills, instruction=instruction.text)
    action = parse_action(rubric.output)
    improved = ctx.generate_one(f"{step}-improve", "codeclm-improve", model=model, instruction=instruction.text, action=action)
    text = clean_instruction(improved.output)
    if not text:
        raise ValueError(f"Self-Rubrics round {round_number} produced an empty instruction")
    prompt, created = services.prompt_add(
        project=ctx.project, text=text, origin="codeclm", parent=instruction, category=instruction.category,
        generation_job=ctx.job,
        metadata={
            **meta,
            "codeclm": {"stage": "self_rubric", "round": round_number, "rubrics": rubric.output[:4000],
                        "action": action, "llm_calls": [rubric.pk, improved.pk]},
        },
    )
    ctx.count("prompts", created)
    return prompt


class CodecLM(Method):
    name = "codeclm"
    label = "Prompt synthesis (CodecLM)"
    description = "Encode seed prompts into use case and skills, decode new instructions, make them harder with Self-Rubrics."
    params = (
        Param("n", "int", 1, "new instructions decoded per seed prompt", minimum=1, maximum=50),
        Param("rounds", "int", 1, "Self-Rubrics rounds per new instruction (0 = none)", minimum=0, maximum=10),
        *DECODING_PARAMS,
        *PROMPT_SELECTION_PARAMS,
    )

    def plan(self, job):
        return prompt_items(job, "seed")

    def run_item(self, ctx: ItemContext) -> None:
        seed = Prompt.objects.get(pk=ctx.payload["prompt_id"], project=ctx.project)
        encoded = ctx.generate_one("encode", "codeclm-encode", prompt=seed.text)
        meta = parse_metadata(encoded.output)
        services.prompt_metadata_merge(prompt=seed, values={"codeclm": {**meta, "llm_call": encoded.pk}})
        made = []
        for i in range(ctx.params["n"]):
            decoded = ctx.generate_one("decode", "codeclm-decode", index=i, use_case=meta["use_case"],
                                       skills=", ".join(meta["skills"]) or "(none listed)")
            text = clean_instruction(decoded.output)
            if not text:
                ctx.count("empty_dropped")
                continue
            current, created = services.prompt_add(
                project=ctx.project, text=text, origin="codeclm", parent=seed, category=seed.category,
                generation_job=ctx.job,
                metadata={**meta, "codeclm": {"stage": "decoded", "seed_prompt": seed.pk, "llm_call": decoded.pk}},
            )
            ctx.count("prompts", created)
            for round_number in range(1, ctx.params["rounds"] + 1):
                current = self_rubric_round(ctx, current, meta, f"i{i}-r{round_number}", round_number)
            made.append(current.pk)
        ctx.details["prompts"] = made
