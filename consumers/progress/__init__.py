"""The progress consumers (docs/decisions/0006-progress-pipeline.md).

* `progress` (`learner.py`): `xapi.statements` -> `progress_learners` -> `lrs.progress.learner`,
  and a trigger on `lrs.progress.team-changes` for each team of a changed learner;
* `team-progress` (`team.py`): those triggers -> `progress_teams` -> `lrs.progress.team`;
* `team-registry` (`team.py`): `lrs.teams` (registry changes) -> the members' learner progress
  (their teams) and a trigger for the team;
* `rebuild.py`: `lrs progress rebuild`, the same code paths fed from the stored statements.
"""
