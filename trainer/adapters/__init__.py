"""What a ParetoSlider adds to a frozen diffusers transformer: the peft LoRA (lora.py), θ / θ_old and
the optimiser of a run (policy.py), ω fed in with forward hooks (inject.py), and a file's LoRA merged
into the weights for evaluation (merge.py)."""
