"""Reading what other tools wrote into ParetoSlider files (`python -m trainer import-reference`)."""
