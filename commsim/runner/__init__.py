"""Running a scenario: one point (``points``) and every point of a sweep on any
``concurrent.futures.Executor`` with resume (``sweep``)."""
