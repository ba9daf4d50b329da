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
(" Yes", "yes" and "YES" all count for "Yes"). A score comes only from valid data: every logprob
must be a number <= 0 (NaN, +inf or 1000 stop the run with the server, model and value named), the
top-k list must be there (the sampled token alone proves nothing), and at least one answer must
be in it; an answer missing from a non-empty top k counts as 0 (it ranks below the k listed; the
first time, one info line says how many).

Everything travels as JSON over HTTP(S): nothing is pickled, and no server is started here.
`check_ready()` (called before any model loads) asks GET /models that the server is up and
serves `model`. Requests run `concurrency` at a time per process; each has one overall deadline
of `timeout` seconds (judge_http.py) and is retried `retries` times with exponential backoff on a
refused / dropped connection, a timeout, HTTP 408 / 429 / 5xx, waiting at least what a 429 / 503's
Retry-After asks. When one request fails the others are shut down at once. A failure raises
`JudgeError` naming the server, the model and the reason. Scores are cached per (image bytes,
rendered question, judge settings) in memory, and in `cache_dir` across runs (one JSON file per
process, written atomically); only checked scores are cached, and invalid entries an older
version wrote are dropped on load with one warning.
"""
from __future__ import annotations

import base64
import concurrent.futures as cf
import hashlib
import io
import json
import math
import os
import socket
import string
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import log
from . import judge_http
from .image import to_uint8
from .registry import Reward, RewardError, register_reward

DEFAULT_TEMPLATE = 'Does this image show "{prompt}"? Answer Yes or No.'
CACHE_VERSION = 2             # 1: could hold scores read from invalid logprobs (see _valid_cached)
MAX_RETRY_AFTER = 120         # seconds: a longer Retry-After fails with the server's own answer
_IMAGE_ROLES = ("image", "source")


class JudgeError(RewardError):
    """The judge server could not be used; the message names the server, the model and the reason."""


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


LOGPROB_SLACK = 1e-3        # a logprob is <= 0; servers round a certain token to 0 or a hair above


def _logprob(tok: str, value: Any) -> float:
    """A logprob from the server, checked: a real number <= 0 (-inf, probability 0, included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"bad-logprob:{tok!r}: {value!r}")
    value = float(value)
    if math.isnan(value) or value > LOGPROB_SLACK:
        raise ValueError(f"bad-logprob:{tok!r}: {value!r}")
    return min(value, 0.0)


def answer_probabilities(response: Any, answers: Sequence[str]) -> tuple[list[float], list[tuple[str, float]]]:
    """A chat-completion response (parsed JSON) → (P(answer) for each answer, the top-k list read).

    Reads choices[0].logprobs.content[0]: its top_logprobs (and the sampled token itself). Every
    logprob must be a number <= 0 (NaN, +inf or 1000 are refused: a score comes only from valid
    data). An answer missing from a non-empty top-k list counts as probability 0 (it ranks below
    the k listed). Raises ValueError("not-completion" / "no-logprobs" / "no-top-logprobs" /
    "bad-logprob:<token>: <value>") when the response lacks them or holds invalid values."""
    if not isinstance(response, dict) or not isinstance(response.get("choices"), list) or not response["choices"]:
        raise ValueError("not-completion")
    choice = response["choices"][0]
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        raise ValueError("no-logprobs")
    first = content[0]
    top = [e for e in first.get("top_logprobs") or [] if isinstance(e, dict) and isinstance(e.get("token"), str)]
    if not top:      # the sampled token alone would score 1.0 whatever the model thinks
        raise ValueError("no-top-logprobs")
    entries = [(e["token"], _logprob(e["token"], e.get("logprob"))) for e in top]
    if isinstance(first.get("token"), str) and "logprob" in first:
        entries.append((first["token"], _logprob(first["token"], first["logprob"])))
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
        self._told_missing = False
        if self.cache_dir is not None:
            self._load_cache()
        # the settings that change a score (not the server: the same model elsewhere answers alike)
        self._settings = json.dumps([self.model, self.system, self.answers, self.mode, self.values, self.normalize,
                                     self.images, self.image_format, self.jpeg_quality, self.max_side,
                                     self.extra_body], sort_keys=True)

    # ------------------------------------------------------------------ the cache
    def _load_cache(self) -> None:
        """Every cache file in cache_dir, its entries checked: a score that is not finite (or, in a file
        from version 1, which could cache 0 / 1 read from a NaN logprob or a missing top-k list) is
        dropped with one warning and asked again; a cleaned file is rewritten."""
        d = self.cache_dir
        if d.exists() and not d.is_dir():
            raise RewardError(f"reward {self.name!r}: cache_dir {str(d)!r} is a file; give a folder")
        d.mkdir(parents=True, exist_ok=True)
        dropped = 0
        for f in sorted(d.glob("judge-*.json")):
            try:
                data = json.loads(f.read_text())
                version, scores = data.get("version"), data["scores"]
                if version not in (1, CACHE_VERSION):
                    continue
                good = {str(k): float(v) for k, v in scores.items() if _valid_cached(v, version)}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                log.warning(f"reward {self.name!r}: skipped unreadable judge cache file {f} ({err})")
                continue
            self._cache.update(good)
            if len(good) < len(scores) or version != CACHE_VERSION:
                dropped += len(scores) - len(good)
                _write_json_atomically(f, {"version": CACHE_VERSION, "scores": good}, self.name)
        if dropped:
            log.warning(f"reward {self.name!r}: dropped {dropped} invalid score(s) from the judge cache {d} "
                        "(NaN / infinity, or 0 / 1 an older version read from invalid logprobs); those images "
                        "will be asked again")
        self._shard = d / f"judge-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"

    def _save_cache(self) -> None:
        """This process's new scores → its own file, through a temp file and a rename."""
        if self._shard is not None and self._new:
            _write_json_atomically(self._shard, {"version": CACHE_VERSION, "scores": self._new}, self.name)

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

    def check_ready(self) -> None:
        """Before any model loads: the server answers GET /models and serves `model` (a down server or a
        wrong name fails in seconds, not after minutes of loading)."""
        try:
            raw = self._send(judge_http.Connections(), "GET", self.base_url + "/models", None, min(self.timeout, 30.0))
        except judge_http.Refused as err:
            if err.code in (404, 405):         # a proxy without the listing: scoring will tell
                log.warning(f"reward {self.name!r}: {self.base_url}/models {err}; cannot check that it serves "
                            f"{self.model!r} before training")
                return
            raise self._fail(str(err), err.hint or "Check base_url and the server's log") from None
        try:
            served = [m.get("id") for m in json.loads(raw)["data"] if isinstance(m, dict)]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise self._fail(f"answered GET {self.base_url}/models with something that is not a model list: "
                             f"{raw[:200]!r}", "base_url must be an OpenAI-compatible API root (it usually "
                             "ends in /v1)") from None
        if self.model not in served:
            raise self._fail(f"does not serve this model; it serves {served}",
                             "Set 'model' to one of those names (vLLM: --served-model-name)")

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            headers["Authorization"] = f"Bearer {os.environ.get(self.api_key_env, '')}"
        return headers

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
            results = self._ask_all(jobs)     # every score already checked: nothing invalid is cached
            with self._lock:
                self._cache.update(results)
                if self._shard is not None:
                    self._new.update(results)
                    self._save_cache()
        with self._lock:
            return torch.tensor([self._cache[k] for k in keys], dtype=torch.float32)

    def _ask_all(self, jobs: dict[str, tuple[list, str]]) -> dict[str, float]:
        conns = judge_http.Connections()
        pool = cf.ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)),
                                     thread_name_prefix=f"judge-{self.name}")
        try:
            futures = {pool.submit(self._ask, arrays, q, conns): k for k, (arrays, q) in jobs.items()}
            done, _ = cf.wait(futures, return_when=cf.FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    conns.abandon()           # the others stop now: no wait at exit, no load left on the server
                    raise f.exception()
            missing = sum(m for _, m in (f.result() for f in futures))
            if missing and not self._told_missing and self.mode == "probability":
                self._told_missing = True
                log.info(f"reward {self.name!r}: {missing} of {len(jobs)} answers had an answer token outside the "
                         f"server's top {self.top_logprobs}; counted as probability 0 (documented rule)")
            return {futures[f]: f.result()[0] for f in futures}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fail(self, reason: str, hint: str = "") -> JudgeError:
        return JudgeError(f"reward {self.name!r} (vlm_judge): the judge server {self.base_url} (model "
                          f"{self.model!r}) {reason}" + (f". {hint}" if hint else ""))

    def _send(self, conns: judge_http.Connections, method: str, url: str, data: bytes | None,
              timeout: float) -> bytes:
        """One request with the judge's retries: backoff·2^k between tries, at least a 429 / 503's
        Retry-After; JudgeError when the tries run out. Refused and Abandoned pass through."""
        last = judge_http.Transient("", "")
        for attempt in range(self.retries + 1):
            if attempt:
                wait = self.backoff * 2 ** (attempt - 1)
                if last.retry_after is not None:
                    if last.retry_after > MAX_RETRY_AFTER:
                        raise self._fail(f"{last} and asks to retry after {last.retry_after:.0f} s (Retry-After), "
                                         f"longer than the judge waits ({MAX_RETRY_AFTER} s)",
                                         "Wait until it is ready, or lower the load on it")
                    wait = max(wait, last.retry_after)
                conns.wait(wait)
            try:
                return conns.request(method, url, data, self._headers(), timeout)
            except judge_http.Transient as err:
                last = err
        raise self._fail(f"{last} ({self.retries + 1} tries)", _HINTS.get(last.kind, "See the server's log"))

    def _ask(self, arrays: Sequence, question: str, conns: judge_http.Connections) -> tuple[float, int]:
        """One question about one set of images (encoded here, in the worker thread) → (score, how many
        answer tokens were missing from the top k)."""
        urls = [data_url(encode_image(a, self.image_format, self.jpeg_quality, self.max_side), self.image_format)
                for a in arrays]
        data = json.dumps(self.body(urls, question)).encode()
        try:
            raw = self._send(conns, "POST", self.url, data, self.timeout)
        except judge_http.Abandoned:
            raise self._fail("was abandoned after another request failed") from None
        except judge_http.Refused as err:
            hint = err.hint or (f"Check 'model' (GET {self.base_url}/models lists what it serves) and the options it "
                                "accepts (e.g. top_logprobs at most vLLM's --max-logprobs)")
            raise self._fail(str(err), hint) from None
        with self._lock:
            self.requests_sent += 1
        return self._read_answer(raw)

    def _read_answer(self, raw: bytes) -> tuple[float, int]:
        try:
            response = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._fail(f"answered with something that is not JSON: {raw[:200]!r}",
                             "base_url must be an OpenAI-compatible API root (it usually ends in /v1)") from None
        try:
            probs, top = answer_probabilities(response, self.answers)
        except ValueError as err:
            why = str(err)
            if why == "not-completion":
                raise self._fail(f"answered JSON that is not a chat completion (no 'choices'): "
                                 f"{json.dumps(response)[:200]}",
                                 "base_url must be an OpenAI-compatible API root (it usually ends in /v1)") from None
            if why == "no-top-logprobs":
                raise self._fail("answered without top_logprobs (only the sampled token), so P(answer) cannot be "
                                 "read", f"The judge asks for top_logprobs={self.top_logprobs}; use a server that "
                                 "returns them for chat completions (vLLM, SGLang)") from None
            if why.startswith("bad-logprob:"):
                raise self._fail(f"returned an invalid logprob for token {why[len('bad-logprob:'):]} (a logprob is a "
                                 "number <= 0; NaN, +infinity or positive values mean the server is broken)",
                                 "No score was taken from this answer and nothing was cached; see the server's "
                                 "log or try another server version") from None
            raise self._fail("answered without token logprobs (choices[0].logprobs.content is missing)",
                             "The judge needs a server that returns 'logprobs' / 'top_logprobs' for chat "
                             "completions: vLLM and SGLang do; `transformers serve` 5.x ignores them") from None
        try:
            value = score_from_probabilities(probs, self.mode, self.values, self.normalize)
        except ValueError:
            shown = ", ".join(f"{t!r}: {lp:.2f}" for t, lp in top[:8])
            raise self._fail(f"put none of the answer tokens {self.answers} among its top {self.top_logprobs} "
                             f"first tokens (it gave {shown})",
                             "Ask for exactly one of them (e.g. end the template with 'Answer Yes or No.'), "
                             "check the answers match the model's tokens, or raise top_logprobs") from None
        if not math.isfinite(value):       # cannot happen from checked logprobs: a bug here, keep the traceback
            raise AssertionError(f"judge score {value!r} from probabilities {probs}")
        return value, sum(1 for p in probs if p == 0.0)


_HINTS = {"refused": "Start the server first (docs/REWARDS_AND_EVAL.md: vLLM / SGLang) or fix base_url",
          "timeout": "It is overloaded or the images are large: raise 'timeout', lower 'concurrency' or set "
                     "'max_side'"}


def _valid_cached(value: Any, version: int) -> bool:
    """A cached score worth keeping: finite; from a version-1 file, also not exactly 0 or 1 (what that
    version read from a NaN logprob or from a top-k list without the other answer)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return version != 1 or value not in (0.0, 1.0)


def _write_json_atomically(path: Path, data: dict, reward: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        log.warning(f"reward {reward!r}: could not write the judge cache {path} ({err})")
