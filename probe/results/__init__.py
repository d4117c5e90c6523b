"""Run records (``results/runs/*.json``) and what is computed from them alone: the leaderboard, speaker-clustered
intervals, paired tests, speaker counts and the set of best layers."""
