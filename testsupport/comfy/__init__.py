"""Test support for the ComfyUI half (never shipped): a headless ComfyUI server and client, ComfyUI as
a library (`comfy_inprocess`), tiny models built with diffusers (`tiny_models`, `ltx2_tiny`) or with
ComfyUI's own classes for every LoRA family (`tiny_families`), random LoRA files in every layout
(`lora_formats`), the browser test's files (`make_files`, `tiny_sdxl`) and test-only ComfyUI nodes.

Scripts that run in ComfyUI's own python import these as `testsupport.comfy.<module>`: their callers
put the repository root on PYTHONPATH (`comfy_server.comfy_env()`), never on sys.path in code.
"""
