"""``autorule`` (methods.md §2.8, AutoRule): rules from the reasons people gave.

Sources are human judgments with a rationale: by default on gold pairs, where the
person's verdict has the gold sign (their rationale argues for the known answer), up
to ``limit``. For each, the model may first explain step by step why the chosen side
wins, using the rationale as evidence (``reason``); then it extracts short rules a
verifier can check on one response to any request, as a JSON list (or bullet lines).
An output with no rule in it is recorded in the job's details, never filled in.

Merging: exact duplicates (case, spacing, end punctuation) are dropped; near-duplicates
are grouped greedily around the best-supported rule, by embedding cosine ≥ ``cosine``
(all-MiniLM-L6-v2, ``generation.embeddings``) or, without an embedding model, token
Jaccard ≥ ``jaccard``; the model writes one rule per group (``model_merge``), else the
group keeps its best-supported wording. Every rule keeps the union of its source
judgment ids and a support count (how many judgments); the ``max_rules`` best-supported
are saved as a new version of the project's rule set (Rubric ``kind = ruleset``).

One job item does the whole run: merging needs every extraction, and each model call
has a call key, so a retried item repeats no call and saves the rule set once.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Q

from curation import services
from curation.models import Judgment, Rubric

from .. import embeddings
from ..prompts import nonce, quote_block, template_get
from .base import ItemContext, Method, Param, ParamError

BATCH = 16
VERDICT_WORDS = {-2: "A is much better", -1: "A is better", 1: "B is better", 2: "B is much better"}
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|rule\s*\d*\s*:)\s*(.+?)\s*$", re.I)
MIN_RULE_CHARS, MAX_RULE_CHARS = 8, 240


# --- parsing ------------------------------------------------------------------------


def clean_rule(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("\"'`*").strip()


def _from_json(output: str) -> list[str] | None:
    """Rules from a JSON list in the output (the widest bracketed span first, then each
    bracketed span from the last), or None when there is no JSON list."""
    spans = []
    if "[" in output and "]" in output:
        spans.append(output[output.index("[") : output.rindex("]") + 1])
    spans += [m.group(0) for m in reversed(list(re.finditer(r"\[[^\[\]]*\]", output)))]
    for span in spans:
        try:
            value = json.loads(span)
        except ValueError:
            continue
        if isinstance(value, list):
            rules = []
            for item in value:
                if isinstance(item, dict):
                    item = item.get("rule") or item.get("text") or ""
                if isinstance(item, str):
                    rules.append(item)
            return rules
    return None


def parse_rules(output: str) -> list[str]:
    """The rules in a model's output: a JSON list of strings, else bullet or numbered
    lines. Anything else gives no rule (the caller records the output as unparsed)."""
    found = _from_json(output or "")
    if found is None:
        found = [m.group(1) for line in (output or "").splitlines() if (m := BULLET.match(line))]
    rules, seen = [], set()
    for rule in map(clean_rule, found):
        key = normalise(rule)
        if MIN_RULE_CHARS <= len(rule) <= MAX_RULE_CHARS and not rule.endswith(":") and key not in seen:
            seen.add(key)
            rules.append(rule)
    return rules


# --- merging ------------------------------------------------------------------------


def normalise(text: str) -> str:
    """The key of an exact duplicate: case, spacing and end punctuation ignored."""
    return re.sub(r"\s+", " ", text.lower()).strip().rstrip(".!;:").strip()


@dataclass
class Rule:
    text: str
    sources: set[int] = field(default_factory=set)  # judgment ids
    calls: set[int] = field(default_factory=set)  # LLMCall ids of the extractions
    members: list[str] = field(default_factory=list)  # wordings merged into it

    @property
    def support(self) -> int:
        return len(self.sources)

    def absorb(self, other: Rule) -> None:
        self.sources |= other.sources
        self.calls |= other.calls
        self.members += [m for m in other.members if m not in self.members]

    def as_item(self) -> dict:
        item = {"text": self.text, "support": self.support, "sources": sorted(self.sources), "llm_calls": sorted(self.calls)}
        if len(self.members) > 1:
            item["merged_from"] = self.members
        return item


def drop_exact_duplicates(candidates: list[tuple[str, int, int]]) -> list[Rule]:
    """(text, judgment id, call id) → one Rule per normalised text, provenance unioned."""
    rules: dict[str, Rule] = {}
    for text, source, call in candidates:
        key = normalise(text)
        if key not in rules:
            rules[key] = Rule(text=text, members=[text])
        rules[key].sources.add(source)
        rules[key].calls.add(call)
    return list(rules.values())


def similarity_matrix(texts: list[str], *, embed: Callable = embeddings.embed) -> tuple[np.ndarray, str]:
    """Pairwise similarities and what they are: embedding cosine, or token Jaccard when
    no embedding model is available."""
    vectors = embed(texts) if texts else None
    if vectors is not None:
        return vectors @ vectors.T, "embedding cosine"
    n = len(texts)
    matrix = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i, j] = matrix[j, i] = embeddings.jaccard(texts[i], texts[j])
    return matrix, "token jaccard"


def group_near_duplicates(rules: list[Rule], similarity: np.ndarray, threshold: float) -> list[list[Rule]]:
    """Greedy groups: rules in order of support join the first group whose leading
    (best-supported) rule is at least ``threshold`` similar; a deterministic result
    that never chains a group beyond its leader's neighbourhood."""
    order = sorted(range(len(rules)), key=lambda i: (-rules[i].support, normalise(rules[i].text)))
    groups: list[list[int]] = []
    for i in order:
        for group in groups:
            if similarity[group[0], i] >= threshold:
                group.append(i)
                break
        else:
            groups.append([i])
    return [[rules[i] for i in group] for group in groups]


def merge_group(group: list[Rule], text: str | None = None) -> Rule:
    """One rule for a group, worded ``text`` (the model's merge) or as its leader."""
    merged = Rule(text=text or group[0].text, members=[])
    for rule in group:
        merged.absorb(rule)
    return merged


def ranked(rules: list[Rule], cap: int) -> list[Rule]:
    return sorted(rules, key=lambda r: (-r.support, normalise(r.text)))[:cap]


# --- the method -----------------------------------------------------------------------


def source_judgments(project, params: dict):
    """Human judgments whose rationale can teach a rule (see the module docstring)."""
    records = Judgment.objects.filter(project=project, is_human=True, is_revision=False).exclude(rationale="")
    records = records.filter(Q(verdict__lt=0) | Q(verdict__gt=0))
    if params["source"] == "gold":
        records = records.filter(
            (Q(verdict__lt=0) & Q(pair__gold_verdict__lt=0)) | (Q(verdict__gt=0) & Q(pair__gold_verdict__gt=0))
        )
    return records.order_by("id")[: params["limit"]]


class AutoRule(Method):
    name = "autorule"
    label = "Rules from human rationales (AutoRule)"
    description = "Extract prompt-independent rules from the rationales people wrote, merge near-duplicates, save a rule set."
    params = (
        Param("source", "str", "gold", "gold: rationales on gold pairs that agree with the gold label; all: any decisive "
              "human judgment with a rationale", choices=("gold", "all")),
        Param("limit", "int", 256, "at most this many source judgments", minimum=1, maximum=5000),
        Param("reason", "bool", True, "first let the model reason step by step from the rationale"),
        Param("max_rules", "int", 50, "rules kept in the rule set (the best-supported)", minimum=1, maximum=500),
        Param("cosine", "float", 0.9, "near-duplicates: embedding cosine at least this", minimum=0, maximum=1),
        Param("jaccard", "float", 0.8, "near-duplicates without an embedding model: token Jaccard at least this",
              minimum=0, maximum=1),
        Param("model_merge", "bool", True, "let the model word one rule per group of near-duplicates"),
        Param("model", "str", "", "model name or path; empty: the project's default model"),
        Param("temperature", "float", 0.0, "sampling temperature (0 = greedy)", minimum=0, maximum=2),
        Param("top_p", "float", 1.0, "nucleus sampling", minimum=0.01, maximum=1),
        Param("max_new_tokens", "int", 512, "most new tokens per call", minimum=1, maximum=8192),
        Param("seed", "int", 0, "seed for sampling"),
    )

    def plan(self, job):
        ids = list(source_judgments(job.project, job.params).values_list("id", flat=True))
        if not ids:
            where = "on gold pairs agreeing with the gold label" if job.params["source"] == "gold" else ""
            raise ParamError(
                f"autorule found no human judgment with a rationale and a decisive verdict {where}".strip()
                + "; add rationales, mark pairs gold, or use --param source=all"
            )
        yield "autorule", {"judgment_ids": ids}

    def run_item(self, ctx: ItemContext) -> None:
        marker = f"AutoRule job {ctx.job.pk}:"
        if Rubric.objects.filter(project=ctx.project, kind=Rubric.Kind.RULESET, text__startswith=marker).exists():
            return  # a retry after the rule set was saved
        judgments = list(
            Judgment.objects.filter(project=ctx.project, id__in=ctx.payload["judgment_ids"])
            .select_related("pair__prompt", "pair__response_a", "pair__response_b")
            .order_by("id")
        )
        reasonings = self._reason(ctx, judgments) if ctx.params["reason"] else {j.id: j.rationale for j in judgments}
        candidates, unparsed = self._extract(ctx, judgments, reasonings)
        rules, details = self._merge(ctx, drop_exact_duplicates(candidates))
        kept = ranked(rules, ctx.params["max_rules"])
        ctx.details.update(
            n_sources=len(judgments), n_candidates=len(candidates), unparsed=unparsed, n_rules=len(kept),
            n_beyond_cap=len(rules) - len(kept), **details,
        )
        summary = (
            f"{marker} {len(kept)} rules from {len(judgments)} human rationales ({len(candidates)} candidates; "
            f"near-duplicates by {details['similarity']}); {len(unparsed)} outputs had no rule."
        )
        ruleset = services.ruleset_add(project=ctx.project, items=[r.as_item() for r in kept], origin="autorule", text=summary)
        ctx.details["ruleset_version"] = ruleset.version
        ctx.count("rulesets")

    def _requests(self, ctx, step, template, texts: dict[int, str]) -> dict[int, object]:
        """One recorded call per key (a judgment id or group index), in batches."""
        keys = list(texts)
        calls = {}
        for start in range(0, len(keys), BATCH):
            chunk = keys[start : start + BATCH]
            requests = [
                ctx.request([{"role": "user", "content": texts[key]}], index=f"{step}-{key}",
                            temperature=ctx.params["temperature"], top_p=ctx.params["top_p"])
                for key in chunk
            ]
            for key, call in zip(chunk, ctx.generate(step, requests, template=template, indices=chunk)):
                calls[key] = call
        return calls

    def _reason(self, ctx: ItemContext, judgments: list[Judgment]) -> dict[int, str]:
        template = template_get("autorule-reason")
        prompts = {}
        for judgment in judgments:
            pair = judgment.pair
            tag = nonce(ctx.job.pk, judgment.pk)
            blocks = "\n\n".join(
                (quote_block("response-A", pair.response_a.text, tag), quote_block("response-B", pair.response_b.text, tag))
            )
            prompts[judgment.pk] = template.render(
                chosen="Response A" if judgment.verdict < 0 else "Response B",
                prompt=pair.prompt.text,
                responses_block=blocks,
                verdict=VERDICT_WORDS[judgment.verdict],
                rationale=judgment.rationale,
            )
        return {key: call.output for key, call in self._requests(ctx, "reason", template, prompts).items()}

    def _extract(self, ctx, judgments, reasonings) -> tuple[list[tuple[str, int, int]], list[dict]]:
        template = template_get("autorule-extract")
        prompts = {
            j.pk: template.render(reasoning=reasonings.get(j.pk) or j.rationale, max_rules=10) for j in judgments
        }
        candidates, unparsed = [], []
        for judgment_id, call in self._requests(ctx, "extract", template, prompts).items():
            rules = parse_rules(call.output)
            if not rules:
                unparsed.append({"judgment": judgment_id, "llm_call": call.pk})
            candidates += [(rule, judgment_id, call.pk) for rule in rules]
        return candidates, unparsed

    def _merge(self, ctx, rules: list[Rule]) -> tuple[list[Rule], dict]:
        params = ctx.params
        similarity, kind = similarity_matrix([r.text for r in rules])
        threshold = params["cosine"] if kind == "embedding cosine" else params["jaccard"]
        groups = group_near_duplicates(rules, similarity, threshold)
        wordings: dict[int, str] = {}
        merge_unparsed = []
        to_merge = {i: group for i, group in enumerate(groups) if len(group) > 1}
        if params["model_merge"] and to_merge:
            template = template_get("autorule-merge")
            prompts = {
                i: template.render(rules="\n".join(f"- {r.text}" for r in group)) for i, group in to_merge.items()
            }
            for i, call in self._requests(ctx, "merge", template, prompts).items():
                found = parse_rules(call.output) or parse_rules(f"- {call.output.strip().splitlines()[0]}" if call.output.strip() else "")
                if found:
                    wordings[i] = found[0]
                else:
                    merge_unparsed.append({"group": [r.text for r in to_merge[i]], "llm_call": call.pk})
        merged = [merge_group(group, wordings.get(i)) for i, group in enumerate(groups)]
        return merged, {
            "similarity": kind, "threshold": threshold, "n_groups_merged": len(to_merge), "merge_unparsed": merge_unparsed,
        }
