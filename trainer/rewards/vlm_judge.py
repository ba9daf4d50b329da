"""A VLM judge on an OpenAI-compatible server (vLLM, SGLang, ...): score = what its answer-token
logprobs say about each image.

    {"id": "vlm_judge", "base_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen2.5-VL-7B-Instruct",
     "template": 'Does this image show "{prompt}"? Answer Yes or No.', "answers": ["Yes", "No"]}

One chat-completions request per image (and question): the images as base64 PNG/JPEG data URLs and
the question, `max_tokens` 1, `temperature` 0, `logprobs` true, `top_logprobs` k. From the first
answer token's top-k list:
- score "probability": P(answers[0]) / Σ P(answers) (e.g. P(Yes) normalised over Yes / No);
- score "expected": the expected rating Σ P(a)·v(a) / Σ P(a), v = `values` or the answers read as
  numbers, mapped to [0, 1] by (E − min v) / (max v − min v) when `normalize` (the reference's
  expected digit / 5 for ratings 0..5).
A top-k token counts for an answer when it equals it after stripping whitespace, ignoring case
(" Yes", "yes" and "YES" all count for "Yes"); answers missing from the top k count as 0.

Everything travels as JSON over HTTP(S): nothing is pickled, and no server is started here.
Requests run `concurrency` at a time per process (several training processes simply add up); each
has a `timeout` and is retried `retries` times with exponential backoff on a refused / dropped
connection, a timeout, HTTP 408 / 429 / 5xx. A failure raises `JudgeError` naming the server, the
model and the reason. Scores are cached per (image bytes, rendered question, judge settings) in
memory, and in `cache_dir` across runs (one JSON file per process, written atomically).
"""
from __future__ import annotations

import base64
import concurrent.futures as cf
import hashlib
import http.client
import io
import json
import math
import os
import socket
import string
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import log
from .image import to_uint8
from .registry import Reward, RewardError, register_reward

DEFAULT_TEMPLATE = 'Does this image show "{prompt}"? Answer Yes or No.'
CACHE_VERSION = 1
_IMAGE_ROLES = ("image", "source")


class JudgeError(RewardError):
    """The judge server could not be used; the message names the server, the model and the reason."""


class _Transient(Exception):
    """A failure worth retrying (refused / dropped connection, timeout, 408 / 429 / 5xx)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _check_template(template: str, reward: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise RewardError(f"reward {reward!r}: template is not a valid format string ({err}); write literal "
                          "braces as {{ and }}") from None
    bad = [f for f in fields if f != "prompt"]
    if bad:
        raise RewardError(f"reward {reward!r}: template field(s) {bad} are unknown; the only field is {{prompt}} "
                          "(write literal braces as {{ and }})")


def encode_image(arr, fmt: str = "png", quality: int = 95, max_side: int = 0) -> bytes:
    """(H, W, 3) uint8 → PNG / JPEG bytes, the longer side scaled down to `max_side` (0 = as is)."""
    from PIL import Image
    im = Image.fromarray(arr)
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BICUBIC)
    buf = io.BytesIO()
    if fmt == "png":
        im.save(buf, format="PNG")
    else:
        im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def data_url(data: bytes, fmt: str) -> str:
    return f"data:image/{'png' if fmt == 'png' else 'jpeg'};base64,{base64.b64encode(data).decode('ascii')}"


def answer_probabilities(response: Any, answers: Sequence[str]) -> tuple[list[float], list[tuple[str, float]]]:
    """A chat-completion response (parsed JSON) → (P(answer) for each answer, the top-k list read).

    Reads choices[0].logprobs.content[0]: its top_logprobs (and the sampled token itself). Raises
    ValueError("no-choices" / "no-logprobs" / ...) with a detail when the response lacks them."""
    if not isinstance(response, dict) or not isinstance(response.get("choices"), list) or not response["choices"]:
        raise ValueError("not-completion")
    choice = response["choices"][0]
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        raise ValueError("no-logprobs")
    first = content[0]
    top = first.get("top_logprobs") or []
    entries = []
    for e in list(top) + [first]:
        if isinstance(e, dict) and isinstance(e.get("token"), str) and isinstance(e.get("logprob"), (int, float)):
            entries.append((e["token"], float(e["logprob"])))
    if not entries:
        raise ValueError("no-logprobs")
    seen: dict[str, float] = {}
    for tok, lpv in entries:           # the sampled token may repeat a top-k entry: count it once
        seen.setdefault(tok, lpv)
    keys = [a.strip().lower() for a in answers]
    probs = [0.0] * len(answers)
    for tok, lpv in seen.items():
        t = tok.strip().lower()
        for i, k in enumerate(keys):
            if t == k:
                probs[i] += math.exp(lpv) if lpv > -1e4 else 0.0
    return probs, sorted(seen.items(), key=lambda kv: -kv[1])


def score_from_probabilities(probs: Sequence[float], mode: str, values: Sequence[float] | None = None,
                             normalize: bool = True) -> float:
    """probability: p[0] / Σp; expected: Σ p·v / Σ p, mapped to [0, 1] over [min v, max v] if normalize."""
    total = float(sum(probs))
    if total <= 0:
        raise ValueError("no-answer-tokens")
    if mode == "probability":
        return float(probs[0]) / total
    vals = list(values)
    e = sum(p * v for p, v in zip(probs, vals)) / total
    if normalize:
        lo, hi = min(vals), max(vals)
        e = (e - lo) / (hi - lo)
    return float(e)


@register_reward
class VLMJudge(Reward):
    """A VLM judge on an OpenAI-compatible server (vLLM, SGLang): P(Yes) or the expected rating from the
    answer-token logprobs of one chat completion per image (see trainer/rewards/vlm_judge.py)."""

    id = "vlm_judge"

    def __init__(self, base_url: str, model: str, template: str = DEFAULT_TEMPLATE,
                 answers: list[str] | None = None, score: str = "probability", values: list[float] | None = None,
                 normalize: bool = True, images: list[str] | None = None, system: str = "",
                 image_format: str = "png", jpeg_quality: int = 95, max_side: int = 0, top_logprobs: int = 20,
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 3, backoff: float = 0.5,
                 api_key_env: str = "", cache_dir: str = "", extra_body: dict | None = None,
                 name: str | None = None):
        super().__init__(name)
        n = self.name
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise RewardError(f"reward {n!r}: base_url must be the server's OpenAI API root, e.g. "
                              f"'http://127.0.0.1:8000/v1', got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        if not model:
            raise RewardError(f"reward {n!r}: give 'model', the name the server serves (GET {self.base_url}/models)")
        self.model = str(model)
        _check_template(template, n)
        self.template, self.system = str(template), str(system or "")
        answers = ["Yes", "No"] if answers is None else [str(a) for a in answers]
        if score not in ("probability", "expected"):
            raise RewardError(f"reward {n!r}: score must be 'probability' (P(answers[0]) normalised over the "
                              f"answers) or 'expected' (the expected rating), got {score!r}")
        if len(answers) < 2 or len({a.strip().lower() for a in answers}) != len(answers) or \
                any(not a.strip() for a in answers):
            raise RewardError(f"reward {n!r}: answers must be at least 2 distinct non-empty tokens, e.g. "
                              f"['Yes', 'No'] or ['0', '1', '2', '3', '4', '5'], got {answers!r}")
        if score == "expected":
            if values is None:
                try:
                    values = [float(a) for a in answers]
                except ValueError:
                    raise RewardError(f"reward {n!r}: score 'expected' needs numeric answers or 'values' (one "
                                      f"number per answer), got answers {answers!r}") from None
            values = [float(v) for v in values]
            if len(values) != len(answers) or not all(math.isfinite(v) for v in values) or \
                    (normalize and max(values) == min(values)):
                raise RewardError(f"reward {n!r}: values must be one finite number per answer, not all equal "
                                  f"(answers {answers!r}, values {values!r})")
        elif values is not None:
            raise RewardError(f"reward {n!r}: values are only used with score 'expected'")
        self.answers, self.mode, self.values, self.normalize = answers, score, values, bool(normalize)
        images = ["image"] if images is None else [str(i) for i in images]
        if not images or any(i not in _IMAGE_ROLES for i in images) or "image" not in images:
            raise RewardError(f"reward {n!r}: images lists what the judge sees, in order: 'image' (the generated "
                              "image, required) and optionally 'source' (the edited image), e.g. "
                              f"['source', 'image'], got {images!r}")
        self.images = images
        self.needs_source = "source" in images
        if image_format not in ("png", "jpeg"):
            raise RewardError(f"reward {n!r}: image_format must be png or jpeg, got {image_format!r}")
        self.image_format, self.jpeg_quality, self.max_side = image_format, int(jpeg_quality), int(max_side)
        for opt, v, lo in (("top_logprobs", top_logprobs, 1), ("concurrency", concurrency, 1),
                           ("retries", retries, 0), ("max_side", max_side, 0)):
            if int(v) < lo:
                raise RewardError(f"reward {n!r}: {opt} must be >= {lo}, got {v!r}")
        if not (float(timeout) > 0 and float(backoff) >= 0):
            raise RewardError(f"reward {n!r}: timeout must be > 0 and backoff >= 0 (seconds), got "
                              f"{timeout!r}, {backoff!r}")
        self.top_logprobs, self.concurrency = int(top_logprobs), int(concurrency)
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self.api_key_env = str(api_key_env or "")
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise RewardError(f"reward {n!r}: api_key_env names ${self.api_key_env}, which is not set; export the "
                              "server's API key in it (or drop api_key_env for a server without one)")
        self.extra_body = dict(extra_body or {})
        self.requests_sent = 0             # for tests and the benchmark: HTTP requests that got an answer
        self._cache: dict[str, float] = {}
        self._new: dict[str, float] = {}
        self._lock = threading.Lock()
        self.cache_dir = Path(os.path.expanduser(cache_dir)) if cache_dir else None
        self._shard = None
        if self.cache_dir is not None:
            self._load_cache()
        # the settings that change a score (not the server: the same model elsewhere answers alike)
        self._settings = json.dumps([self.model, self.system, self.answers, self.mode, self.values, self.normalize,
                                     self.images, self.image_format, self.jpeg_quality, self.max_side,
                                     self.extra_body], sort_keys=True)

    # ------------------------------------------------------------------ the cache
    def _load_cache(self) -> None:
        d = self.cache_dir
        if d.exists() and not d.is_dir():
            raise RewardError(f"reward {self.name!r}: cache_dir {str(d)!r} is a file; give a folder")
        d.mkdir(parents=True, exist_ok=True)
        for f in sorted(d.glob("judge-*.json")):
            try:
                data = json.loads(f.read_text())
                if data.get("version") != CACHE_VERSION:
                    continue
                self._cache.update({str(k): float(v) for k, v in data["scores"].items()})
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                log.warning(f"reward {self.name!r}: skipped unreadable judge cache file {f} ({err})")
        self._shard = d / f"judge-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"

    def _save_cache(self) -> None:
        """This process's new scores → its own file, through a temp file and a rename."""
        if self._shard is None or not self._new:
            return
        tmp = self._shard.with_name(self._shard.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "scores": self._new}))
            os.replace(tmp, self._shard)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            log.warning(f"reward {self.name!r}: could not write the judge cache {self._shard} ({err})")

    def key(self, question: str, image_hashes: Sequence[str]) -> str:
        h = hashlib.sha256()
        for part in (self._settings, question, *image_hashes):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    # ------------------------------------------------------------------ scoring
    def question(self, prompt: str) -> str:
        return self.template.format(prompt=prompt)

    def body(self, urls: Sequence[str], question: str) -> dict:
        content = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
        content.append({"type": "text", "text": question})
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + \
            [{"role": "user", "content": content}]
        body = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0.0,
                "logprobs": True, "top_logprobs": self.top_logprobs, "stream": False}
        body.update(self.extra_body)
        return body

    def score(self, images, prompts, sources):
        arrays = {"image": to_uint8(images)}
        if self.needs_source:
            arrays["source"] = to_uint8(sources)
        jobs: dict[str, tuple[list, str]] = {}          # key → (the images' uint8 arrays, question)
        keys = []
        for i, prompt in enumerate(prompts):
            q = self.question(prompt)
            encoded, hashes = [], []
            for role in self.images:
                a = arrays[role][i]
                hashes.append(hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest())
                encoded.append(a)
            k = self.key(q, hashes)
            keys.append(k)
            with self._lock:
                hit = k in self._cache
            if not hit and k not in jobs:
                jobs[k] = (encoded, q)
        if jobs:
            results = self._ask_all(jobs)
            with self._lock:
                self._cache.update(results)
                if self._shard is not None:
                    self._new.update(results)
                    self._save_cache()
        with self._lock:
            return torch.tensor([self._cache[k] for k in keys], dtype=torch.float32)

    def _ask_all(self, jobs: dict[str, tuple[list, str]]) -> dict[str, float]:
        abort = threading.Event()
        pool = cf.ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)),
                                     thread_name_prefix=f"judge-{self.name}")
        try:
            futures = {pool.submit(self._ask, arrays, q, abort): k for k, (arrays, q) in jobs.items()}
            done, _ = cf.wait(futures, return_when=cf.FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    abort.set()
                    raise f.exception()
            return {futures[f]: f.result() for f in futures}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fail(self, reason: str, hint: str = "") -> JudgeError:
        return JudgeError(f"reward {self.name!r} (vlm_judge): the judge server {self.base_url} (model "
                          f"{self.model!r}) {reason}" + (f". {hint}" if hint else ""))

    def _ask(self, arrays: Sequence, question: str, abort: threading.Event) -> float:
        """One question about one set of images (encoded here, in the worker thread)."""
        urls = [data_url(encode_image(a, self.image_format, self.jpeg_quality, self.max_side), self.image_format)
                for a in arrays]
        data = json.dumps(self.body(urls, question)).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            headers["Authorization"] = f"Bearer {os.environ.get(self.api_key_env, '')}"
        last = _Transient("", "")
        for attempt in range(self.retries + 1):
            if abort.is_set():
                raise self._fail("was abandoned after another request failed")
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                raw = self._post(data, headers)
                break
            except _Transient as err:
                last = err
        else:
            hint = {"refused": "Start the server first (docs/REWARDS_AND_EVAL.md: vLLM / SGLang) or fix base_url",
                    "timeout": "It is overloaded or the images are large: raise 'timeout', lower 'concurrency' "
                               "or set 'max_side'",
                    }.get(last.kind, "See the server's log")
            raise self._fail(f"{last} ({self.retries + 1} tries)", hint)
        with self._lock:
            self.requests_sent += 1
        try:
            response = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._fail(f"answered with something that is not JSON: {raw[:200]!r}",
                             "base_url must be an OpenAI-compatible API root (it usually ends in /v1)") from None
        try:
            probs, top = answer_probabilities(response, self.answers)
        except ValueError as err:
            if str(err) == "not-completion":
                raise self._fail(f"answered JSON that is not a chat completion (no 'choices'): "
                                 f"{json.dumps(response)[:200]}",
                                 "base_url must be an OpenAI-compatible API root (it usually ends in /v1)") from None
            raise self._fail("answered without token logprobs (choices[0].logprobs.content is missing)",
                             "The judge needs a server that returns 'logprobs' / 'top_logprobs' for chat "
                             "completions: vLLM and SGLang do; `transformers serve` 5.x ignores them") from None
        try:
            return score_from_probabilities(probs, self.mode, self.values, self.normalize)
        except ValueError:
            shown = ", ".join(f"{t!r}: {lp:.2f}" for t, lp in top[:8])
            raise self._fail(f"put none of the answer tokens {self.answers} among its top {self.top_logprobs} "
                             f"first tokens (it gave {shown})",
                             "Ask for exactly one of them (e.g. end the template with 'Answer Yes or No.'), "
                             "check the answers match the model's tokens, or raise top_logprobs") from None

    def _post(self, data: bytes, headers: dict) -> bytes:
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as err:
            try:
                text = err.read()[:300].decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):      # the body is only for the message
                text = ""
            if err.code in (408, 429) or err.code >= 500:
                raise _Transient("http", f"answered HTTP {err.code} {err.reason}: {text}") from None
            hint = (f"Check 'model' (GET {self.base_url}/models lists what it serves) and the options it accepts "
                    "(e.g. top_logprobs at most vLLM's --max-logprobs)")
            raise self._fail(f"answered HTTP {err.code} {err.reason}: {text}", hint) from None
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, ConnectionRefusedError):
                raise _Transient("refused", "refused the connection (is it running? is the port right?)") from None
            if isinstance(reason, TimeoutError):
                raise _Transient("timeout", f"did not answer within {self.timeout:g} s") from None
            if isinstance(reason, socket.gaierror):
                raise self._fail(f"cannot be found ({reason})", "Fix the host name in base_url") from None
            raise _Transient("connection", f"could not be reached ({reason})") from None
        except TimeoutError:
            raise _Transient("timeout", f"did not answer within {self.timeout:g} s") from None
        except (ConnectionError, http.client.HTTPException, OSError) as err:
            raise _Transient("connection", f"dropped the connection ({type(err).__name__}: {err})") from None
