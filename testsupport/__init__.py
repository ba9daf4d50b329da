"""Test support: fixtures shared by tests/ and bench/, never shipped with the product.

Not listed in pyproject's `[tool.setuptools] packages` nor in `[tool.comfy] includes`
(tests/trainer/test_layout.py checks both). Importable from the repository root: pytest puts it on
sys.path (`pythonpath = ["."]`), bench scripts run as `python -m bench.<name>` from the root.

- `tiny`: tiny random SD3 / Flux Kontext / LTX-2 diffusers pipelines built offline from configs;
- `trainer_helpers`: reward functions and a CPU-sized trainer config;
- `eval_fakes`: a fake backbone and a ParetoSlider file for it (evaluation tests);
- `vlm_server` / `fault_server`: a tiny Qwen2-VL behind an OpenAI-compatible server, and a scripted
  server for the VLM judge's failure paths.
"""
