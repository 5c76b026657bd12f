"""klish-bench: the suite around the `klish` library (stages, data, tasks, tracking, leaderboard)."""
