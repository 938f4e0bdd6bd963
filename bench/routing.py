"""Routing by score against random routing, on data with known labels.

    python -m bench.routing [--seeds 5] [--budgets 0.1,0.2,0.3]

Pairs: every LLMBar pair (expert gold labels; category = the LLMBar subset) and every
PandaLM pair (label = the majority of its three annotators; category = the app it
came from), read from ../shared/data. Three simulated AI judges label each pair with
realistic noise:

- accuracy differs per judge and per category (the adversarial LLMBar subsets are
  hard: judges fall to near chance there, as real LLM judges do);
- length bias: a judge is less often right when the better response is the shorter
  one, and on a tie it favours the longer response;
- a judge sometimes favours whichever side it is shown first in both orders: its two
  runs disagree, the combined verdict is a tie and the pair is position-inconsistent;
- confidence is higher when the judge is right (Beta(8, 2)) than when wrong
  (Beta(5, 4)), Beta(4, 4) when position-biased.

The AI label of a pair is the median of the judges' verdicts (round half toward zero,
``curation.consensus.median_verdict``); it is a label error when its sign differs from
the known label. A 100-pair seed gold set is drawn first (it feeds the novelty term).
Each routing strategy sends ``budget`` pairs to humans, three human judgments per
pair; a human majority (each annotator right with p = 0.9) finds the error when there
is one. Routing by score uses the production ``curation.routing.routing_score`` with
the default weights; random routing is averaged over 20 draws. The figure is label
errors found per 100 human judgments; the target is a ratio score/random above 1.
An ablation routes by each term of the score alone.
"""
import argparse
import json
import random
from collections import Counter
from pathlib import Path

from bench.common import report, setup_django

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
JUDGES = [  # (name, base accuracy, primacy rate)
    ("pairwise-checklist", 0.85, 0.08),
    ("rubric-then-judge", 0.80, 0.12),
    ("pointwise-aspects", 0.72, 0.18),
]
HARD_CATEGORIES = {"llmbar/adversarial_gptinst", "llmbar/adversarial_gptout", "llmbar/adversarial_manual",
                   "llmbar/adversarial_neighbor"}
HUMANS_PER_PAIR = 3
HUMAN_ACCURACY = 0.9
SEED_GOLD = 100
RANDOM_DRAWS = 20


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def load_pairs(shared: Path) -> list[dict]:
    """[{"truth": −1|0|1, "category", "len_a", "len_b"}] from LLMBar and PandaLM."""
    pairs = []
    for path in sorted((shared / "llmbar").glob("*.json")):
        for row in json.loads(path.read_text()):
            pairs.append(
                {
                    "truth": -1 if row["label"] == 1 else 1,
                    "category": f"llmbar/{path.stem}",
                    "len_a": len(row["output_1"]),
                    "len_b": len(row["output_2"]),
                }
            )
    seen = set()
    for row in json.loads((shared / "pandalm" / "testset-v1.json").read_text()):
        key = (row["instruction"], row["input"], row["response1"], row["response2"])
        if key in seen:
            continue
        seen.add(key)
        label, _ = Counter([row["annotator1"], row["annotator2"], row["annotator3"]]).most_common(1)[0]
        pairs.append(
            {
                "truth": {0: 0, 1: -1, 2: 1}[label],
                "category": f"pandalm/{row['motivation_app']}",
                "len_a": len(str(row["response1"])),
                "len_b": len(str(row["response2"])),
            }
        )
    return pairs


def simulate_judges(pairs: list[dict], rng: random.Random) -> None:
    """Add each judge's (verdict, confidence, position_consistent) to every pair."""
    categories = sorted({p["category"] for p in pairs})
    for name, base, primacy in JUDGES:
        offsets = {c: rng.gauss(0, 0.06) - (0.3 if c in HARD_CATEGORIES else 0.0) for c in categories}
        for pair in pairs:
            longer = -1 if pair["len_a"] > pair["len_b"] else 1 if pair["len_b"] > pair["len_a"] else rng.choice((-1, 1))
            accuracy = base + offsets[pair["category"]]
            if pair["truth"]:  # length bias: easier when the better side is the longer one
                accuracy += 0.05 if longer == pair["truth"] else -0.10
            accuracy = min(0.97, max(0.35, accuracy))
            if rng.random() < primacy:
                verdict, consistent = 0, False
                confidence = rng.betavariate(4, 4)
            else:
                consistent = True
                right = rng.random() < accuracy
                if right:
                    side = pair["truth"]
                elif pair["truth"] == 0:
                    side = longer if rng.random() < 0.7 else -longer
                else:
                    side = 0 if rng.random() < 0.2 else -pair["truth"]
                verdict = side * (2 if side and rng.random() < 0.3 else 1)
                confidence = rng.betavariate(8, 2) if right else rng.betavariate(5, 4)
            pair.setdefault("judges", []).append((verdict, confidence, consistent))


def evidence_of(pair: dict, gold_in_category: int):
    from curation.routing import PairEvidence

    verdicts = [v for v, _, _ in pair["judges"]]
    return PairEvidence(
        n_verdicts=len(verdicts),
        mean_confidence=sum(c for _, c, _ in pair["judges"]) / len(verdicts),
        any_inconsistent=not all(consistent for _, _, consistent in pair["judges"]),
        n_a=sum(v < 0 for v in verdicts),
        n_tie=sum(v == 0 for v in verdicts),
        n_b=sum(v > 0 for v in verdicts),
        mean_verdict=sum(verdicts) / len(verdicts),
        gold_in_category=gold_in_category,
    )


def humans_find(pair: dict, rng: random.Random) -> bool:
    """Whether a human majority corrects the pair's AI label (only errors can be found)."""
    if not pair["error"]:
        return False
    right = sum(rng.random() < HUMAN_ACCURACY for _ in range(HUMANS_PER_PAIR))
    return right * 2 > HUMANS_PER_PAIR


def run_seed(all_pairs: list[dict], seed: int, budgets: list[float], weights_variants: dict) -> dict:
    from curation.consensus import median_verdict
    from curation.routing import routing_score

    rng = random.Random(seed)
    pairs = [dict(p) for p in all_pairs]
    simulate_judges(pairs, rng)
    rng.shuffle(pairs)
    gold, pool = pairs[:SEED_GOLD], pairs[SEED_GOLD:]
    gold_per_category = Counter(p["category"] for p in gold)
    for pair in pool:
        label = median_verdict([v for v, _, _ in pair["judges"]])
        pair["error"] = sign(label) != pair["truth"]
        evidence = evidence_of(pair, gold_per_category[pair["category"]])
        pair["scores"] = {name: routing_score(evidence, weights) for name, weights in weights_variants.items()}
    result = {"pool": len(pool), "errors": sum(p["error"] for p in pool), "budgets": {}}
    for fraction in budgets:
        budget = int(fraction * len(pool))
        judgments = budget * HUMANS_PER_PAIR
        row = {}
        for name in weights_variants:
            ranked = sorted(pool, key=lambda p: (-p["scores"][name], id(p)))[:budget]
            row[name] = 100 * sum(humans_find(p, rng) for p in ranked) / judgments
        random_found = []
        for _ in range(RANDOM_DRAWS):
            random_found.append(100 * sum(humans_find(p, rng) for p in rng.sample(pool, budget)) / judgments)
        row["random"] = sum(random_found) / len(random_found)
        result["budgets"][fraction] = row
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", default="0.1,0.2,0.3", help="shares of the pool routed to humans")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    args = parser.parse_args()
    setup_django()
    from curation.routing import routing_weights

    defaults = routing_weights(None)
    variants = {"score": defaults}
    for term in defaults:  # ablation: each term alone
        variants[f"only {term}"] = {key: (1.0 if key == term else 0.0) for key in defaults}
    budgets = [float(b) for b in args.budgets.split(",")]
    pairs = load_pairs(args.shared)
    runs = [run_seed(pairs, seed, budgets, variants) for seed in range(args.seeds)]

    def mean(budget: float, name: str) -> float:
        return sum(run["budgets"][budget][name] for run in runs) / len(runs)

    error_rate = sum(run["errors"] for run in runs) / sum(run["pool"] for run in runs)
    rows = []
    for budget in budgets:
        by_score, by_random = mean(budget, "score"), mean(budget, "random")
        rows.append(
            {
                "what": f"errors found / 100 human judgments, budget {budget:.0%}",
                "measured": by_score,
                "unit": "errors",
                "target": "ratio > 1 vs random",
                "met": by_score > by_random,
                "reference": f"random {by_random:.1f}",
                "ratio": by_score / by_random if by_random else None,
            }
        )
    ablation = {name: {f"{b:.0%}": round(mean(b, name), 2) for b in budgets} for name in [*variants, "random"]}
    print(f"  {len(pairs):,} pairs ({runs[0]['pool']:,} in the pool after the seed gold set), "
          f"AI label error rate {error_rate:.1%}, {args.seeds} noise seeds")
    print("  errors found per 100 human judgments by routing rule:")
    for name, figures in ablation.items():
        print(f"    {name:<30} " + "  ".join(f"{budget} {value:5.1f}" for budget, value in figures.items()))
    report(
        "routing",
        rows,
        extra={
            "pairs": len(pairs),
            "pool": runs[0]["pool"],
            "ai_label_error_rate": round(error_rate, 4),
            "seeds": args.seeds,
            "humans_per_pair": HUMANS_PER_PAIR,
            "by_rule": ablation,
        },
    )


if __name__ == "__main__":
    main()
