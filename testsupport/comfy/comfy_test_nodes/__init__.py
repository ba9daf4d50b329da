"""Test-only ComfyUI nodes (installed into a temporary ComfyUI by the integration tests, never
shipped): conditioning for tiny models without text-encoder files."""
import torch


class ParetoTestConditioning:
    """Random but seeded CONDITIONING with the tiny models' context / pooled widths."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "context_dim": ("INT", {"default": 64, "min": 1, "max": 8192}),
            "pooled_dim": ("INT", {"default": 32, "min": 1, "max": 8192}),
            "tokens": ("INT", {"default": 8, "min": 1, "max": 512}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31}),
            "guidance": ("FLOAT", {"default": 3.5, "min": 0.0, "max": 100.0}),
        }}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, context_dim, pooled_dim, tokens, seed, guidance):
        g = torch.Generator().manual_seed(seed)
        cond = torch.randn(1, tokens, context_dim, generator=g)
        pooled = torch.randn(1, pooled_dim, generator=g)
        return ([[cond, {"pooled_output": pooled, "guidance": guidance}]],)


NODE_CLASS_MAPPINGS = {"ParetoTestConditioning": ParetoTestConditioning}
