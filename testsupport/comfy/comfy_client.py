"""A minimal client for a headless ComfyUI server (POST /prompt, poll /history) and the API-format
graphs the integration tests and the benchmark run."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

CONTEXT_DIM, POOLED_DIM = 64, 32


class PromptRejected(Exception):
    """POST /prompt refused the graph at validation; .body has ComfyUI's node_errors."""

    def __init__(self, body: dict):
        super().__init__(json.dumps(body)[:2000])
        self.body = body


@dataclass
class RunResult:
    prompt_id: str
    status: dict
    outputs: dict
    seconds: float
    messages: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status.get("status_str") == "success"

    @property
    def error(self) -> str:
        for kind, data in self.messages:
            if kind == "execution_error":
                return f"{data.get('exception_type')}: {data.get('exception_message')}"
        return ""

    @property
    def cached_nodes(self) -> list[str]:
        for kind, data in self.messages:
            if kind == "execution_cached":
                return [str(n) for n in data.get("nodes", [])]
        return []


class ComfyClient:
    def __init__(self, base_url: str, base_dir: Path | None = None):
        self.url = base_url.rstrip("/")
        self.base_dir = base_dir
        self.client_id = uuid.uuid4().hex

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def get_status(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def queue(self, prompt: dict) -> str:
        data = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode()
        req = urllib.request.Request(self.url + "/prompt", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())["prompt_id"]
        except urllib.error.HTTPError as err:
            raise PromptRejected(json.loads(err.read() or b"{}")) from None

    def run(self, prompt: dict, timeout: float = 300) -> RunResult:
        t0 = time.perf_counter()
        pid = self.queue(prompt)
        while True:
            hist = self.get(f"/history/{pid}")
            if pid in hist and hist[pid].get("status", {}).get("completed") is not None \
                    and (hist[pid]["status"].get("status_str") in ("success", "error")):
                h = hist[pid]
                return RunResult(pid, h["status"], h.get("outputs", {}), time.perf_counter() - t0,
                                 h["status"].get("messages", []))
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"prompt {pid} did not finish in {timeout}s")
            time.sleep(0.02)

    def latent(self, result: RunResult, node: str = "save") -> torch.Tensor:
        """The latent a SaveLatent node wrote (read back from the output folder)."""
        files = result.outputs[node]["latents"]
        f = files[0]
        path = self.base_dir / "output" / f.get("subfolder", "") / f["filename"]
        return load_file(str(path))["latent_tensor"]


def input_nodes(arch: str, *, size: int = 64, batch: int = 1) -> dict:
    """The tiny model, fixed test conditionings (pos, neg) and an empty latent: every graph's start."""
    return {
        "unet": {"class_type": "UNETLoader",
                 "inputs": {"unet_name": f"tiny_{arch}.safetensors", "weight_dtype": "default"}},
        "pos": {"class_type": "ParetoTestConditioning",
                "inputs": {"context_dim": CONTEXT_DIM, "pooled_dim": POOLED_DIM, "tokens": 8, "seed": 1,
                           "guidance": 3.5}},
        "neg": {"class_type": "ParetoTestConditioning",
                "inputs": {"context_dim": CONTEXT_DIM, "pooled_dim": POOLED_DIM, "tokens": 8, "seed": 2,
                           "guidance": 3.5}},
        "latent": {"class_type": "EmptySD3LatentImage",
                   "inputs": {"width": size, "height": size, "batch_size": batch}},
    }


def graph(arch: str, *, slider: str | None = None, preference: str = "0.5, 0.5", seed: int = 7,
          steps: int = 3, size: int = 64, batch: int = 1, cfg: float | None = None,
          lora_strength: float = 1.0, sweep: dict | None = None, prefix: str = "t",
          lora_loader: dict | None = None, save: bool = True) -> dict:
    """UNETLoader(tiny model) [→ LoraLoaderModelOnly] [→ ParetoSlider] → KSampler → SaveLatent."""
    cfg = cfg if cfg is not None else (2.0 if arch == "sd3" else 1.0)
    g = input_nodes(arch, size=size, batch=batch)
    model = ["unet", 0]
    if lora_loader:
        g["lora"] = {"class_type": "LoraLoaderModelOnly",
                     "inputs": {"model": model, "lora_name": lora_loader["name"],
                                "strength_model": lora_loader["strength"]}}
        model = ["lora", 0]
    if slider:
        g["loader"] = {"class_type": "ParetoSliderLoader", "inputs": {"slider_name": slider}}
        if sweep:
            g["pref"] = {"class_type": "ParetoSliderSweep",
                         "inputs": {"slider": ["loader", 0], "mode": sweep.get("mode", "edge"),
                                    "steps": sweep["steps"], "from_objective": 0, "to_objective": 1,
                                    **({"noise": sweep["noise"]} if "noise" in sweep else {})}}
            g["latent"]["inputs"]["batch_size"] = ["pref", 1]
        else:
            g["pref"] = {"class_type": "ParetoSliderPreference",
                         "inputs": {"slider": ["loader", 0], "preference": preference}}
        g["apply"] = {"class_type": "ApplyParetoSlider",
                      "inputs": {"model": model, "slider": ["loader", 0], "preference": ["pref", 0],
                                 "lora_strength": lora_strength}}
        model = ["apply", 0]
    g["sampler"] = {"class_type": "KSampler",
                    "inputs": {"model": model, "seed": seed, "steps": steps, "cfg": cfg,
                               "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0,
                               "positive": ["pos", 0], "negative": ["neg", 0],
                               "latent_image": ["latent", 0]}}
    if save:
        g["save"] = {"class_type": "SaveLatent",
                     "inputs": {"samples": ["sampler", 0], "filename_prefix": f"latents/{prefix}"}}
    return g
