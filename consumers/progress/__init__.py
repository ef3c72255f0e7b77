"""The progress consumers (docs/decisions/0006-progress-pipeline.md).

* `progress` (`learner.py`): `lrs.statements.stored` (the statements the persister stored, and
  learner-refresh triggers) -> `progress_learners` -> `lrs.progress.learner`, and a trigger on
  `lrs.progress.team-changes` for each team of a changed learner; the one writer of a learner;
* `team-progress` (`team.py`): those triggers -> `progress_teams` -> `lrs.progress.team`;
* `team-registry` (`team.py`): `lrs.teams` (registry changes) -> a learner-refresh trigger for
  each member, old and new (their teams), and a trigger for the team;
* `rebuild.py`: `lrs progress rebuild`, the same code paths fed from the stored statements.
"""
