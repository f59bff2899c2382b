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

  autoattack_checks            AutoAttack's own warnings (value: how many); flagged if any.
  eps_reaches_chance           PGD at growing eps (the sweep) must bring accuracy down to chance
                               (100 / n_classes, plus a margin) at the largest eps; flagged if not:
                               an attack that cannot win with an unbounded budget is not working.
  iterative_beats_single_step  PGD minus FGSM accuracy on the same gradient path; flagged if > 0:
                               an iterative attack must not be weaker than its first step.
  more_steps_stable            PGD with twice the steps and restarts vs the ensemble's PGD; flagged
                               if they differ by the tolerance or more: the attack had not converged.
  blackbox_not_better          % of images some black-box (transfer, gradient-free) member fools
                               while every white-box member fails; flagged above the tolerance: the
                               model's own gradients mislead the white-box attacks.
  zero_gradient                % of the clean-correct images whose input gradient is exactly zero
                               through the STE path; flagged if > 0.
  ste_gap                      the best STE attack's accuracy minus the lowest of any attack; flagged
                               above the tolerance: STE attacks overstate the model's robustness.

A flag questions the number, it does not change it: the per-example worst case already takes the
strongest attack. Claims (qrobust.claims.with_masking) report the flags of the models they rest on.

table.py: table "masking" (one row per model; masking_long.csv with every member, check and sweep
point); figure.py: figure "masking" (member accuracies per model, accuracy vs eps).
"""
