"""The RL: DiffusionNFT and Flow-GRPO behind one interface (algorithms.py), their pure losses
(losses.py), ω sampling on the simplex (omega.py), and the objectives' rewards of a step (scoring.py)."""
