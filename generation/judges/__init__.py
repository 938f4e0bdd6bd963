"""AI judges (issue 5, methods.md §2.3–2.5, §2.9, §2.10): run with
``run_job --method judge --param judge=NAME``; the method is in
``generation.methods.judge`` and dispatches on ``JudgeConfig.method``.

``verdicts`` holds the pure parts (option distributions → verdicts, strict parsing,
swap combination, length rule, score → verdict, ensemble strength).

Storage contract (read by the judges page, the pair page and ``evaluate_judge``)
-------------------------------------------------------------------------------
One Judgment per (JudgeConfig, Pair), ``is_human = False``, verdicts in stored
orientation (negative = A better):

* ``verdict``: the final s (after the length rule), null when nothing parsed
  (then ``parse_ok = false``); ``verdict_before_length_rule``: s_comb;
  ``length_rule_applied``; ``confidence`` (max of p_A, p_tie, p_B of the mean stored
  distribution; without log-probs the share of runs agreeing in sign with s_comb);
  ``expected_verdict`` (E[s], null without log-probs); ``position_consistent`` (first
  AB run vs first BA run agree in sign; null when one order is missing or unparsed);
  ``rationale``: the first parsed run's rationale; ``rubric``: the checklist / rubric /
  reference solution used; ``llm_calls``: every call.
* ``runs`` (pairwise-checklist, rubric-then-judge), a list with one dict per judge call::

      {"shown_order": "AB" | "BA",        # AB: A shown first
       "sample": 0,                       # index within that order (n_samples > 1)
       "verdict": -1,                     # stored orientation, null if unparsed
       "verdict_as_shown": 1,             # what the judge said about the shown order
       "d": 4,                            # the option digit as shown (verdict_as_shown + 3)
       "probabilities": [p(-2) .. p(2)],  # stored orientation; null when parsed from text
       "rationale": "...",
       "checklist_answers": {"1": {"A": true, "B": false}, ...} | null,  # stored sides
       "parse_ok": true,
       "llm_call": 12,                    # the rationale generation
       "score_llm_call": 13}              # the option scoring call, null without log-probs

  rubric-then-judge runs also hold ``rubric_id`` (the prompt's Rubric both orders quote)
  or, with ``single_call``, ``rubric_id = null`` and ``rubric_plan`` (the plan that run
  wrote for itself, parsed as in call 1, null when it did not parse).

* ``checklist_answers`` (Judgment field): the first run's answers (stored sides).
* ``aspects`` holds method details: ``{"notes": [...]}`` (e.g. a checklist that did not
  parse), pointwise ``{"scores": {"A": {aspect: r}, "B": {...}}, "m": {"A", "B"}}``,
  cdr ``{"cdr": {"A": r_A, "B": r_B}}``, ensemble ``{"ensemble": {"members": [{"judge",
  "verdict", "kind", "evidence"}], "mu", "sigma", "flag", "units", "orientation"}}``.
* ``flags`` (Judgment field, a list): the ensemble flag ``likely_mislabeled``,
  ``ambiguous`` or ``strong``; ``checklist_unparsed`` or ``rubric_unparsed`` when call 1
  of the pairwise or rubric judge did not parse (the pair is judged without it);
  ``rubric_differs`` when the two orders of a single-call rubric judge wrote different
  rubrics.
* Score rows (pointwise-aspects: one per response × aspect with value = argmax rating,
  expected, probabilities, rationale; cdr: aspect ``cdr`` with value = the log ratio
  and details of both sums, token count and per-token mean).
"""
