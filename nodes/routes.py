"""GET /paretoslider/info?name=<file> → the file's objectives, architecture, width, front and
recommended sampling settings.

The web widget labels the slider ends from it and shows how to sample the file. Reads only the
metadata (never the tensors).
"""
from __future__ import annotations

from aiohttp import web

from ..pareto_core import ARCHITECTURES, ParetoSliderFileError, read_metadata
from .errors import log
from .loader import resolve_path
from .recommended import recommended

_registered = False


def slider_info(name: str) -> dict:
    meta = read_metadata(resolve_path(name))
    try:
        rec = recommended(meta, name).to_dict()
    except ParetoSliderFileError as err:   # unusable training values: the labels still work, the Loader refuses
        rec = {"error": str(err)}
    return {
        "name": name,
        "objectives": [{"name": o.name, "label": o.label, "reward": o.reward} for o in meta.objectives],
        "architecture": meta.architecture,
        "architecture_label": ARCHITECTURES.get(meta.architecture, meta.architecture),
        "width": meta.width,
        "variant": meta.variant,
        "block_modulation": meta.embedding.block_modulation,
        "front": meta.front,
        "recommended": rec,     # {steps, cfg, width, height, guidance, text, defaulted} or {error}
        "format_version": meta.format_version,
        "imported_from": meta.imported_from,    # "" for a trained file, e.g. "the reference code (checkpoint-1000)"
    }


async def info_handler(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    if not name:
        return web.json_response({"error": "give ?name=<file in models/paretoslider>"}, status=400)
    try:
        return web.json_response(slider_info(name))
    except (ValueError, OSError) as err:  # missing, corrupt, not a ParetoSlider file
        return web.json_response({"error": str(err)}, status=404)


def register_routes() -> None:
    global _registered
    if _registered:
        return
    try:
        from server import PromptServer
        PromptServer.instance.routes.get("/paretoslider/info")(info_handler)
        _registered = True
    except (ImportError, AttributeError) as err:  # no server (ComfyUI used as a library): nodes still work
        log.warning("ParetoSlider: /paretoslider/info not registered (%s)", err)
