"""The gradient-masking audit: is each model's worst-case robust accuracy a real upper bound, or do
its gradients hide adversarial examples from the attacks?

Not a paper of its own: a check on every model the other tables evaluate, after Carlini et al.,
"On Evaluating Adversarial Robustness" (arXiv 1902.06705, 2019, section 5: the signs that an
evaluation is broken) and Croce & Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks" (AutoAttack, ICML 2020: its own checks). Quantized
models are the usual suspects: rounding has a zero gradient almost everywhere, so a straight-through
(STE) attack may see a different model than the one it attacks.

The `worst_case` job (jobs/worst_case.py) runs every attack of the ensemble on every image, keeps
the per-example worst case (evaluation/worst_case.py) and audits it (evaluation/masking.py). Each
check has a value, a threshold and a flag; accuracies and tolerances are in % (points):

  autoattack_checks            AutoAttack's own warnings (value: how many), from whichever member
                               runs its code (AutoAttack, or a component such as APGD-CE); flagged if any.
  eps_reaches_chance           PGD at growing eps (the sweep, always ending at 0.5, where any model is
                               at chance) must bring accuracy down to chance (100 / n_classes, plus a
                               margin) at the largest eps; flagged if not: an attack that cannot win
                               with an unbounded budget is not working. The curve is in the audit.
  iterative_beats_single_step  PGD minus FGSM accuracy on the same gradient path; flagged if > 0:
                               an iterative attack must not be weaker than its first step.
  more_steps_stable            PGD with twice the steps and restarts against a replicate of the
                               ensemble's PGD with other random numbers, on the images the ensemble
                               left; flagged when it fools significantly more of them (McNemar's test):
                               the attack had not converged. Random numbers alone never fire it.
  second_surrogate             the same test for BPDA through a second smooth staircase (four times
                               the temperature): a model whose STE and first BPDA gradients are both
                               useless is caught.
  saturated                    flagged when one of the audit's added attacks (a second random draw of
                               PGD and of each APGD member, PGD with twice the budget, the second
                               staircase), taken as the last added, moves the reported worst case by
                               a point or more: the images it alone fooled.
  blackbox_not_better          % of images some black-box (transfer, gradient-free) member fools
                               while every white-box member fails; flagged above the tolerance: the
                               model's own gradients mislead the white-box attacks. Square is black-box
                               wherever it runs (an AutoAttack that includes it counts on neither side).
  zero_gradient                % of the clean-correct images whose input gradient is exactly zero
                               through the STE path; flagged if > 0.
  ste_gap                      the best STE attack's accuracy minus the lowest of any attack; flagged
                               above the tolerance: STE attacks overstate the model's robustness.

The audit's attacks at the worst case's eps are folded into the worst case (an image any of them fools
is not robust). A flag then says the number may still be too high. Claims (qrobust.claims.with_masking)
report the flags of the models they rest on, and are `masked` only where a flag that questions the worst
case itself (more_steps_stable, second_surrogate, eps_reaches_chance, autoattack_checks) could change the
verdict: judged again with those models' worst case at zero, the verdict would differ.

table.py: table "masking" (one row per model; masking_long.csv with every member, check and sweep
point); figure.py: figure "masking" (member accuracies per model, accuracy vs eps).
"""
