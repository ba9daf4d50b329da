"""A tiny random Qwen2-VL and a small OpenAI-compatible chat-completions server for it (tests, bench).

    python -m testsupport.vlm_server build /tmp/tiny_qwen2_vl          # from the repository root
    python -m testsupport.vlm_server serve /tmp/tiny_qwen2_vl --port 0 --max-batch 8
    # prints "listening on http://127.0.0.1:<port>/v1" once it accepts requests

Why not `transformers serve`: in transformers 5.x its /v1/chat/completions lists `logprobs` and
`top_logprobs` among the fields it accepts but ignores (UNUSED_CHAT_COMPLETION_FIELDS in
transformers/cli/serving/chat_completion.py: "Ignoring unsupported fields"), and its response
builder never fills `choices[].logprobs`, so a judge gets no logprobs from it (checked by hand on
a tiny text model: it logs "Ignoring unsupported fields in the request: {'top_logprobs',
'logprobs'}"); and it cannot load a Qwen2-VL here at all (its Qwen2VLVideoProcessor needs
torchvision, whose PyPI build does not load against the CPU torch). vLLM and SGLang
(which do return them) have no CPU build that installs here. This server is the real thing in
small: the model is a transformers `Qwen2VLForConditionalGeneration` (2 text layers of width 64, a
2-block vision tower) with a byte-level BPE tokenizer, run by `model.generate` on the images decoded
from the request's base64 data URLs; `logprobs.content[i].top_logprobs` are the log-softmax of
generate's logits at each new token, as vLLM reports them. Concurrent requests are batched (left
padding) like a serving engine does: up to --max-batch requests that arrive within --batch-wait
seconds share one forward pass. The lm_head rows of the answer tokens (Yes, No, 0-9) are scaled up
so a random model still ranks them high enough to show in a top-20 list.

Only the standard library serves HTTP; nothing is pickled.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SERVED_NAME = "tiny-qwen2-vl"
ANSWER_TOKENS = ["Yes", "No", "ĠYes", "ĠNo"] + [str(d) for d in range(10)]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# ----------------------------------------------------------------------------- the tiny model

def make_tiny_qwen2_vl(path: str | Path, seed: int = 0, max_pixels: int = 56 * 56, hidden: int = 64,
                       layers: int = 2) -> Path:
    """A tiny random Qwen2-VL folder (config.json, model.safetensors, tokenizer, preprocessor config):
    `layers` text layers of width `hidden` (4 heads, 2 KV heads), a 2-block vision tower, images
    resized to at most `max_pixels` (56x56: one merged image token per 28x28)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from testsupport.tiny import _byte_chars
    vocab = {c: i for i, c in enumerate(_byte_chars())}
    merges = [("Y", "e"), ("Ye", "s"), ("N", "o"), ("Ġ", "Y"), ("ĠY", "e"), ("ĠYe", "s"), ("Ġ", "N"), ("ĠN", "o")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=SPECIALS[1:])
    tok.chat_template = CHAT_TEMPLATE
    ids = tok.convert_tokens_to_ids(SPECIALS)
    half = hidden // 4 // 2                         # half the head dim: M-RoPE's (t, h, w) sections sum to it
    section = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
    cfg = Qwen2VLConfig(
        text_config={"vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": 2 * hidden,
                     "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 2048, "rope_scaling": {"type": "mrope", "mrope_section": section},
                     "tie_word_embeddings": False, "bos_token_id": ids[0], "eos_token_id": ids[2],
                     "pad_token_id": ids[0]},
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": hidden, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3},
        image_token_id=ids[5], video_token_id=ids[6], vision_start_token_id=ids[3], vision_end_token_id=ids[4])
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        rows = tok.convert_tokens_to_ids(ANSWER_TOKENS)
        model.lm_head.weight[rows] *= 8.0
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=max_pixels).save_pretrained(path)
    return path


class TinyVLM:
    """Loads the folder and answers batches of chat requests with generate + logprobs."""

    def __init__(self, folder: str | Path):
        import torch
        from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(folder))
        self.tok.padding_side = "left"
        self.images = Qwen2VLImageProcessorPil.from_pretrained(str(folder))
        self.model = Qwen2VLForConditionalGeneration.from_pretrained(str(folder)).eval()
        self.merge = self.images.merge_size ** 2

    def _prompt(self, messages: list) -> tuple[str, list]:
        """OpenAI messages → the chat-template text and the PIL images, in order."""
        from PIL import Image
        msgs, images = [], []
        for m in messages:
            content = m.get("content")
            if isinstance(content, str):
                msgs.append({"role": m["role"], "content": content})
                continue
            parts = []
            for c in content:
                if c.get("type") == "text":
                    parts.append({"type": "text", "text": c["text"]})
                elif c.get("type") == "image_url":
                    url = c["image_url"]["url"] if isinstance(c["image_url"], dict) else c["image_url"]
                    if not url.startswith("data:image/") or ";base64," not in url:
                        raise ValueError("only base64 data URLs are accepted for images")
                    raw = base64.b64decode(url.split(";base64,", 1)[1])
                    images.append(Image.open(io.BytesIO(raw)).convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    raise ValueError(f"unsupported content type {c.get('type')!r}")
            msgs.append({"role": m["role"], "content": parts})
        return self.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False), images

    def answer(self, bodies: list[dict]) -> list[dict]:
        """One generate call for a batch of requests with the same max_tokens."""
        torch = self.torch
        texts, all_images, counts = [], [], []
        for body in bodies:
            text, images = self._prompt(body["messages"])
            texts.append(text)
            all_images += images
            counts.append(len(images))
        kwargs = {}
        if all_images:
            pix = self.images(images=all_images, return_tensors="pt")
            grids = iter(pix["image_grid_thw"])
            expanded = []
            for text in texts:
                pieces = text.split("<|image_pad|>")
                out = pieces[0]
                for piece in pieces[1:]:
                    out += "<|image_pad|>" * int(next(grids).prod() // self.merge) + piece
                expanded.append(out)
            texts = expanded
            kwargs = dict(pix)
        enc = self.tok(texts, return_tensors="pt", padding=True)
        max_new = int(bodies[0].get("max_tokens") or bodies[0].get("max_completion_tokens") or 16)
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs, max_new_tokens=max_new, do_sample=False,
                                      output_logits=True, return_dict_in_generate=True,
                                      pad_token_id=self.tok.pad_token_id)
        prompt_len = enc["input_ids"].shape[1]
        logps = torch.stack([torch.log_softmax(x.float(), -1) for x in out.logits], 1)    # (B, T, V)
        results = []
        for b, body in enumerate(bodies):
            new = out.sequences[b, prompt_len:].tolist()
            steps, finish = [], "length"
            for t, tid in enumerate(new):
                if tid == self.tok.eos_token_id:
                    finish = "stop"
                    break
                steps.append((tid, logps[b, t]))
            k = int(body.get("top_logprobs") or 0)
            content = []
            for tid, lp in steps:
                top = torch.topk(lp, min(k, lp.numel())) if k else None
                entry = self._entry(tid, float(lp[tid]))
                entry["top_logprobs"] = [self._entry(int(i), float(v)) for v, i in
                                         zip(top.values, top.indices)] if top is not None else []
                content.append(entry)
            text = self.tok.decode([t for t, _ in steps])
            results.append({
                "index": 0, "message": {"role": "assistant", "content": text},
                "logprobs": {"content": content} if body.get("logprobs") else None,
                "finish_reason": finish,
                "_usage": (int(enc["attention_mask"][b].sum()), len(steps))})
        return results

    def _entry(self, tid: int, logprob: float) -> dict:
        s = self.tok.decode([tid])
        return {"token": s, "logprob": logprob, "bytes": list(s.encode("utf-8"))}


# ----------------------------------------------------------------------------- the HTTP server

class Batcher:
    """One worker thread: takes up to max_batch queued requests (waiting batch_wait s for more) and
    answers them with one forward pass, as a serving engine's scheduler would."""

    def __init__(self, vlm: TinyVLM, max_batch: int, batch_wait: float):
        self.vlm, self.max_batch, self.batch_wait = vlm, max_batch, batch_wait
        self.q: queue.Queue = queue.Queue()
        self.batches: list[int] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def submit(self, body: dict) -> dict:
        slot = {"done": threading.Event(), "body": body}
        self.q.put(slot)
        slot["done"].wait()
        if "error" in slot:
            raise slot["error"]
        return slot["result"]

    def _loop(self):
        while True:
            first = self.q.get()
            batch = [first]
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    batch.append(self.q.get(timeout=max(left, 0)) if left > 0 else self.q.get_nowait())
                except queue.Empty:
                    break
            groups: dict[int, list] = {}
            for slot in batch:
                groups.setdefault(int(slot["body"].get("max_tokens") or 16), []).append(slot)
            for slots in groups.values():
                self.batches.append(len(slots))
                try:
                    for slot, res in zip(slots, self.vlm.answer([s["body"] for s in slots])):
                        slot["result"] = res
                except Exception as err:          # noqa: BLE001 — reported to each request as a 500
                    for slot in slots:
                        slot["error"] = err
                for slot in slots:
                    slot["done"].set()


def make_handler(batcher: Batcher, served_name: str, max_logprobs: int):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, code: int, obj: dict):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, message: str):
            self._send(code, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def do_GET(self):
            if self.path.rstrip("/") in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            elif self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": served_name, "object": "model"}]})
            elif self.path.rstrip("/") == "/stats":
                self._send(200, {"batches": batcher.batches})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self):
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                self._error(400, "the body is not JSON")
                return
            if body.get("model") != served_name:
                self._error(404, f"The model `{body.get('model')}` does not exist.")
                return
            if int(body.get("top_logprobs") or 0) > max_logprobs:
                self._error(400, f"top_logprobs must be at most {max_logprobs} (--max-logprobs)")
                return
            try:
                res = batcher.submit(body)
            except ValueError as err:
                self._error(400, str(err))
                return
            except Exception as err:              # noqa: BLE001
                self._error(500, f"{type(err).__name__}: {err}")
                return
            prompt_tokens, completion_tokens = res.pop("_usage")
            self._send(200, {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                             "created": int(time.time()), "model": served_name, "choices": [res],
                             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                       "total_tokens": prompt_tokens + completion_tokens}})
    return Handler


def serve(folder: str, host: str = "127.0.0.1", port: int = 0, max_batch: int = 8, batch_wait: float = 0.0,
          max_logprobs: int = 20, served_name: str = SERVED_NAME) -> None:
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    vlm = TinyVLM(folder)
    server = ThreadingHTTPServer((host, port), make_handler(Batcher(vlm, max_batch, batch_wait), served_name,
                                                            max_logprobs))
    server.daemon_threads = True
    print(f"listening on http://{host}:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


@contextmanager
def running_server(folder: str | Path, max_batch: int = 8, batch_wait: float = 0.0, max_logprobs: int = 20,
                   threads: int = 1, start_timeout: float = 120.0):
    """Start `serve` in a subprocess on a free loopback port; yields its base URL (…/v1); stops it after."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "testsupport.vlm_server", "serve", str(folder), "--port", "0",
           "--max-batch", str(max_batch), "--batch-wait", str(batch_wait), "--max-logprobs", str(max_logprobs)]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=root)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
        try:
            try:
                line = lines.get(timeout=start_timeout)
            except queue.Empty:
                line = ""
            if not line.startswith("listening on "):
                proc.kill()
                proc.wait()
                err.seek(0)
                raise RuntimeError(f"the tiny VLM server did not start: {line!r} {err.read()[-3000:]}")
            yield line.split()[-1]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("folder")
    s = sub.add_parser("serve")
    s.add_argument("folder")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--max-batch", type=int, default=8)
    s.add_argument("--batch-wait", type=float, default=0.0)
    s.add_argument("--max-logprobs", type=int, default=20)
    s.add_argument("--served-model-name", default=SERVED_NAME)
    a = ap.parse_args(argv)
    if a.cmd == "build":
        print(make_tiny_qwen2_vl(a.folder))
    else:
        serve(a.folder, a.host, a.port, a.max_batch, a.batch_wait, a.max_logprobs, a.served_model_name)


if __name__ == "__main__":
    main()
