"""The VLM judge under a misbehaving server (testsupport/fault_server.py on 127.0.0.1): it scores
only from valid data, caches nothing invalid, keeps one deadline per request, lets go of abandoned
requests at once, honours Retry-After, caps the answer, and checks the server before any model
loads. Each test reproduces one fault from issue 23 and checks the exact outcome."""
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from testsupport.fault_server import fault_server, refused_url

from trainer.rewards import build_reward
from trainer.rewards.vlm_judge import JudgeError, answer_probabilities

ROOT = Path(__file__).resolve().parents[2]


def images(n, seed=0, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def judge(url, **kw):
    spec = {"id": "vlm_judge", "base_url": url, "model": "judge", "timeout": 5, "retries": 1, "backoff": 0.01}
    spec.update(kw)
    return build_reward(spec)


def cached_scores(folder: Path) -> dict:
    out = {}
    for f in folder.glob("judge-*.json"):
        out.update(json.loads(f.read_text())["scores"])
    return out


@pytest.mark.parametrize("mode, shown", [("nan", "nan"), ("inf", "inf"), ("huge", "1000.0")])
def test_an_invalid_logprob_stops_with_the_value_and_nothing_is_cached(mode, shown, tmp_path):
    cache = tmp_path / "cache"
    with fault_server() as srv:
        r = judge(srv.url(mode), cache_dir=str(cache))
        with pytest.raises(JudgeError) as info:
            r(images(2), ["a cat"] * 2)
        msg = str(info.value)
        assert f"the judge server {srv.url(mode)} (model 'judge')" in msg
        assert f"invalid logprob for token 'No': {shown}" in msg and "nothing was cached" in msg
        assert cached_scores(cache) == {} and r._cache == {}
        # the same images against a healthy server are asked (not served from any cache) and score in (0, 1)
        healthy = judge(srv.url("ok"), cache_dir=str(cache))
        s = healthy(images(2), ["a cat"] * 2)
        assert srv.hits["ok"] == 2 and bool(((s > 0) & (s < 1)).all())


def test_an_empty_top_logprobs_list_is_an_error_not_a_certain_yes():
    with fault_server() as srv:
        with pytest.raises(JudgeError, match=r"answered without top_logprobs \(only the sampled token\)"):
            judge(srv.url("empty_top"))(images(1), ["a cat"])
    # by hand: the sampled token alone used to score P(Yes) = 1
    resp = {"choices": [{"logprobs": {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": []}]}}]}
    with pytest.raises(ValueError, match="no-top-logprobs"):
        answer_probabilities(resp, ["Yes", "No"])
    # the documented rule: an answer missing from a non-empty top k counts as 0; -inf is probability 0
    resp = {"choices": [{"logprobs": {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": [
        {"token": "Yes", "logprob": -0.1}, {"token": "Maybe", "logprob": float("-inf")}]}]}}]}
    probs, _ = answer_probabilities(resp, ["Yes", "No"])
    assert probs == pytest.approx([math.exp(-0.1), 0.0])


def test_an_old_cache_with_invalid_scores_is_cleaned_with_one_warning(tmp_path, caplog):
    cache = tmp_path / "cache"
    with fault_server() as srv:
        r = judge(srv.url("ok"), cache_dir=str(cache))
        good = r(images(3), ["a cat"] * 3)
        keys = list(cached_scores(cache))
        assert len(keys) == 3
        # what version 1 could write: a 0.0 read from a NaN, a 1.0 from an empty top k, a NaN; one good score
        old = {keys[0]: 0.0, keys[1]: 1.0, keys[2]: float(good[2]), "k-nan": float("nan")}
        for f in cache.glob("*.json"):
            f.unlink()
        (cache / "judge-old.json").write_text(json.dumps({"version": 1, "scores": old}))
        caplog.clear()
        again = judge(srv.url("ok"), cache_dir=str(cache))
        warned = [m for m in caplog.messages if "dropped 3 invalid score(s) from the judge cache" in m]
        assert len(warned) == 1 and str(cache) in warned[0]
        assert torch.allclose(again(images(3), ["a cat"] * 3), good)
        assert again.requests_sent == 2                    # the two dropped ones asked again, the good one not
        assert json.loads((cache / "judge-old.json").read_text()) == {"version": 2,
                                                                       "scores": {keys[2]: float(good[2])}}
        caplog.clear()
        judge(srv.url("ok"), cache_dir=str(cache))           # cleaned once: no warning the next time
        assert not [m for m in caplog.messages if "dropped" in m]


def test_one_deadline_per_request_even_when_the_body_trickles():
    with fault_server() as srv:
        srv.trickle = 0.5                  # the ~700-byte answer would take ~6 minutes
        r = judge(srv.url("trickle"), timeout=1, retries=1)
        # a per-read timeout never fires on 0.5 s gaps (the answer would arrive whole, minutes later):
        # only a deadline for the whole request gives this error
        with pytest.raises(JudgeError, match=r"did not answer within 1 s \(2 tries\)"):
            r(images(1), ["a cat"])
        assert srv.hits["trickle"] == 2


ABANDON_SCRIPT = """
import sys, time, torch
from trainer.rewards import build_reward
from trainer.rewards.vlm_judge import JudgeError
r = build_reward({"id": "vlm_judge", "base_url": sys.argv[1], "model": "judge", "timeout": 600, "retries": 0,
                  "concurrency": 4})
try:
    r(torch.rand(4, 3, 16, 16), ["a", "b", "c", "d"])
except JudgeError as err:
    print("FAILED", err, flush=True)
"""


def test_after_one_request_fails_the_others_are_shut_down_and_the_process_exits_at_once():
    with fault_server() as srv:
        srv.trickle = 0.5
        url = srv.url("trickle_one_bad")
        out = subprocess.run([sys.executable, "-c", ABANDON_SCRIPT, url], cwd=ROOT, capture_output=True, text=True,
                             timeout=600)      # a hang guard only
        assert "FAILED" in out.stdout and "HTTP 400" in out.stdout, out.stdout + out.stderr
        # not abandoned, the three trickling answers would arrive whole (~6 minutes later), none cut off
        deadline = time.monotonic() + 10
        while srv.broken < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.hits["trickle_one_bad"] == 4 and srv.broken == 3     # the server stopped sending to them


def test_retry_after_is_honoured_and_an_absurd_one_is_a_clear_error(monkeypatch):
    from trainer.rewards import judge_http
    waits, wait = [], judge_http.Connections.wait
    monkeypatch.setattr(judge_http.Connections, "wait", lambda self, s: waits.append(s) or wait(self, s))
    with fault_server() as srv:
        srv.flaky_failures, srv.retry_after = 1, "1"
        r = judge(srv.url("busy"), retries=2, backoff=0.01)
        s = r(images(1), ["a cat"])
        assert 0 < float(s) < 1 and srv.hits["busy"] == 2
        assert waits == [1.0]                                   # the second it asked for, not the 0.01 s backoff
        srv.hits.clear()
        srv.flaky_failures, srv.retry_after = 5, "999"
        with pytest.raises(JudgeError, match=r"HTTP 429 .*asks to retry after 999 s \(Retry-After\), longer than "
                                             r"the judge waits \(120 s\)"):
            judge(srv.url("busy"), retries=2, backoff=0.01)(images(1, seed=3), ["a cat"])
        assert srv.hits["busy"] == 1


def test_an_oversized_answer_is_refused():
    with fault_server() as srv:
        with pytest.raises(JudgeError, match=r"sent an answer of \d+ bytes, over the 4 MiB"):
            judge(srv.url("big"))(images(1), ["a cat"])
        assert srv.hits["big"] == 1                                # not retried


def test_the_server_is_checked_before_anything_loads(tmp_path):
    from testsupport.trainer_helpers import tiny_config

    from trainer.run.train import run
    with fault_server() as srv:
        judge(srv.url("ok")).check_ready()                                       # serves 'judge': fine
        srv.models = ["Qwen/Qwen2.5-VL-7B-Instruct"]
        with pytest.raises(JudgeError, match=r"does not serve this model; it serves "
                                             r"\['Qwen/Qwen2.5-VL-7B-Instruct'\]\. Set 'model'"):
            judge(srv.url("ok")).check_ready()
        assert srv.hits["ok"] == 0
        # a training run: the judge is checked before the (here missing) model is loaded
        cfg = tiny_config(tmp_path / "no-such-model", tmp_path / "out")
        cfg.objectives[1].reward = "vlm_judge"
        cfg.objectives[1].kwargs = {"base_url": srv.url("ok"), "model": "judge", "retries": 0}
        with pytest.raises(JudgeError, match="does not serve this model"):
            run(cfg)
    cfg.objectives[1].kwargs = {"base_url": refused_url(), "model": "judge", "retries": 0}
    with pytest.raises(JudgeError, match=r"refused the connection .*\(1 tries\)\. Start the server first"):
        run(cfg)                          # the judge, not the missing model, is what stops it: checked first
    assert not list((tmp_path / "out").rglob("*.safetensors")) and not (tmp_path / "out" / "checkpoints").exists()


def test_a_models_listing_that_is_not_one_is_refused_and_a_missing_one_only_warned(caplog):
    with fault_server() as srv:
        with pytest.raises(JudgeError, match=r"answered GET http://127.0.0.1:\d+/bad_listing/v1/models with something "
                                             r"that is not a model list: b'<html>this is not JSON'\. base_url must"):
            judge(srv.url("bad_listing")).check_ready()
        judge(srv.url("no_listing")).check_ready()              # a proxy without GET /models: scoring will tell
        assert any("cannot check that it serves 'judge' before training" in m for m in caplog.messages)
