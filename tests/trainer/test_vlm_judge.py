"""The VLM judge reward and the composite reward.

- by hand: logprob parsing and the two score modes, option checks, the composite's weighted sum;
- faults, against a scripted local server (fault_server.py): a timeout, HTTP 500, malformed JSON,
  a completion without logprobs, a refused connection, an unknown model, retries that recover;
  a training step with a failing judge stops with the message and writes no file;
- for real, against a tiny random Qwen2-VL served by a local OpenAI-compatible server
  (vlm_server.py, a subprocess on a loopback port): scores for a batch, determinism, the parsing
  against a hand computation from the server's raw answer, the score cache across runs, two
  processes at once, and the editing recipe (trainer/configs/flux_kontext_edit_judge.yaml) through
  the trainer's config loader, a training run on tiny Flux Kontext followed by two `trainer eval`
  runs (the second one is served from the cache), and a 2-process torchrun (DDP) training run.
"""
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml
from testsupport.fault_server import OK_TOP, fault_server, refused_url
from testsupport.vlm_server import SERVED_NAME, make_tiny_qwen2_vl, running_server

from trainer.rewards import RewardError, build_reward
from trainer.rewards.composite import CompositeReward
from trainer.rewards.vlm_judge import JudgeError, VLMJudge, answer_probabilities, score_from_probabilities

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "trainer" / "configs" / "flux_kontext_edit_judge.yaml"
DIGITS = [str(d) for d in range(6)]


def images(n, seed=0, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def judge(url, **kw):
    spec = {"id": "vlm_judge", "base_url": url, "model": kw.pop("model", "judge"), "timeout": 5, "retries": 1,
            "backoff": 0.01}
    spec.update(kw)
    return build_reward(spec)


# ----------------------------------------------------------------------------------------- by hand

def test_answer_probabilities_and_both_score_modes_by_hand():
    top = [{"token": "Yes", "logprob": -0.4}, {"token": " yes", "logprob": -2.0}, {"token": "No", "logprob": -1.6},
           {"token": "Maybe", "logprob": -3.0}]
    resp = {"choices": [{"logprobs": {"content": [{"token": "Yes", "logprob": -0.4, "top_logprobs": top}]}}]}
    probs, read = answer_probabilities(resp, ["Yes", "No"])
    assert probs == pytest.approx([math.exp(-0.4) + math.exp(-2.0), math.exp(-1.6)])
    assert read[0] == ("Yes", -0.4) and len(read) == 4                # the sampled token counted once
    assert score_from_probabilities(probs, "probability") == pytest.approx(
        (math.exp(-0.4) + math.exp(-2.0)) / (math.exp(-0.4) + math.exp(-2.0) + math.exp(-1.6)))
    # expected rating over 0..5: "5" and "3" present, the others missing (count 0); / 5 as the reference
    digits = {"choices": [{"logprobs": {"content": [{"token": "5", "logprob": math.log(0.6), "top_logprobs": [
        {"token": "5", "logprob": math.log(0.6)}, {"token": "3", "logprob": math.log(0.2)},
        {"token": "x", "logprob": math.log(0.1)}]}]}}]}
    p, _ = answer_probabilities(digits, DIGITS)
    assert p == pytest.approx([0, 0, 0, 0.2, 0, 0.6])
    assert score_from_probabilities(p, "expected", [0, 1, 2, 3, 4, 5]) == pytest.approx((0.2 * 3 + 0.6 * 5) / 0.8 / 5)
    assert score_from_probabilities(p, "expected", [0, 1, 2, 3, 4, 5], normalize=False) == pytest.approx(4.5)
    assert score_from_probabilities([0.3, 0.1], "expected", [10, 20]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no-logprobs"):
        answer_probabilities({"choices": [{"logprobs": None}]}, ["Yes", "No"])
    with pytest.raises(ValueError, match="not-completion"):
        answer_probabilities({"data": []}, ["Yes", "No"])
    with pytest.raises(ValueError, match="no-answer-tokens"):
        score_from_probabilities([0.0, 0.0], "probability")


@pytest.mark.parametrize("opts, match", [
    ({"base_url": "localhost:8000"}, "base_url must be the server's OpenAI API root"),
    ({"model": ""}, "give 'model'"),
    ({"template": "Is it {subject}?"}, r"field\(s\) \['subject'\] are unknown"),
    ({"template": "Is it {prompt"}, "not a valid format string"),
    ({"answers": ["Yes", "yes"]}, "at least 2 distinct"),
    ({"score": "expected"}, "needs numeric answers or 'values'"),
    ({"score": "mean"}, "score must be 'probability'"),
    ({"answers": DIGITS, "score": "expected", "values": [1, 2]}, "one finite number per answer"),
    ({"values": [1, 0]}, "only used with score 'expected'"),
    ({"images": ["source"]}, "'image' .*required"),
    ({"image_format": "webp"}, "png or jpeg"),
    ({"concurrency": 0}, "concurrency must be >= 1"),
    ({"timeout": 0}, "timeout must be > 0"),
    ({"api_key_env": "PARETOSLIDER_TEST_UNSET_KEY"}, r"\$PARETOSLIDER_TEST_UNSET_KEY, which is not set"),
])
def test_bad_options_are_refused_with_what_to_do(opts, match):
    spec = {"id": "vlm_judge", "base_url": "http://127.0.0.1:1/v1", "model": "judge"}
    spec.update(opts)
    with pytest.raises(RewardError, match=match):
        build_reward(spec)


def test_the_request_is_json_with_data_urls_source_first(tmp_path):
    with fault_server() as srv:
        r = judge(srv.url("ok"), images=["source", "image"], image_format="jpeg", system="Be strict.",
                  template='Edit: "{prompt}". Answer Yes or No.')
        assert r.needs_source
        imgs, src = images(2), images(2, seed=1)
        s = r(imgs, ["add snow", "make it blue"], src)
        body = srv.bodies[0]
    assert body["model"] == "judge" and body["max_tokens"] == 1 and body["temperature"] == 0.0
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["messages"][0] == {"role": "system", "content": "Be strict."}
    content = body["messages"][1]["content"]
    assert [c["type"] for c in content] == ["image_url", "image_url", "text"]
    assert all(c["image_url"]["url"].startswith("data:image/jpeg;base64,") for c in content[:2])
    assert content[2]["text"] in ('Edit: "add snow". Answer Yes or No.', 'Edit: "make it blue". Answer Yes or No.')
    p_yes, p_no = math.exp(-0.4) + math.exp(-2.0), math.exp(-1.6)
    assert s.tolist() == pytest.approx([p_yes / (p_yes + p_no)] * 2)
    assert OK_TOP[0][0] == "Yes"


# ------------------------------------------------------------------------------------ composite

def test_composite_is_the_weighted_sum_of_named_rewards_by_hand():
    x = torch.zeros(2, 3, 8, 8)
    x[0, 0] = 1.0                                   # pure red: brightness (luma) 0.299, saturation 1
    x[1] = 0.5                                      # grey: luma 0.5, saturation 0
    r = build_reward({"id": "composite", "name": "mix", "offset": 0.25, "terms": [
        {"weight": 2.0, "reward": {"id": "brightness"}},
        {"weight": -0.5, "reward": "saturation"},
        {"id": "brightness", "mode": "mean", "weight": 1.0, "name": "plain"}]})
    assert isinstance(r, CompositeReward) and not r.needs_source
    assert [t.name for _, t in r.terms] == ["mix/brightness", "mix/saturation", "plain"]
    want = [0.25 + 2 * 0.299 - 0.5 * 1 + 1 / 3, 0.25 + 2 * 0.5 - 0 + 0.5]
    assert r(x, ["", ""]).tolist() == pytest.approx(want, abs=1e-6)
    # a source-based term makes the composite need sources; identical images: ssim 1
    r2 = build_reward({"id": "composite", "terms": [{"weight": 0.5, "reward": "ssim"}, "brightness"]})
    assert r2.needs_source
    assert r2(x, None, x).tolist() == pytest.approx([0.5 + 0.299, 0.5 + 0.5], abs=1e-6)
    with pytest.raises(RewardError, match="compares each image with its source"):
        r2(x, None)


@pytest.mark.parametrize("terms, match", [
    ([], "non-empty list"),
    ([{"weight": 1.0}], "needs 'reward'"),
    ([{"weight": "heavy", "reward": "ssim"}], "weight must be a number"),
    ([{"weight": 1.0, "reward": "ssim", "win_size": 7}], r"unknown key\(s\) \['win_size'\]"),
    (["ssim", "ssim"], "share the name"),
    ([{"reward": "no_such_reward"}], "unknown reward id 'no_such_reward'"),
])
def test_composite_bad_terms(terms, match):
    with pytest.raises(RewardError, match=match):
        build_reward({"id": "composite", "terms": terms})


def test_composite_names_the_failing_term():
    from trainer.rewards import FunctionReward
    bad = FunctionReward(lambda images, prompts, sources: images.mean((1, 2, 3)) / 0, name="bad")
    r = build_reward({"id": "composite", "terms": ["brightness", {"weight": 1.0, "reward": bad}]})
    with pytest.raises(RewardError, match=r"reward 'bad' \(function\) returned NaN or infinity"):
        r(torch.rand(2, 3, 4, 4), None)


# ---------------------------------------------------------------------------------------- faults

@pytest.mark.parametrize("mode, match", [
    ("timeout", r"did not answer within 0.5 s \(2 tries\)\. It is overloaded"),
    ("500", r"answered HTTP 500 .*CUDA out of memory \(scripted\).* \(2 tries\)\. See the server's log"),
    ("malformed", r"answered with something that is not JSON: b'<html>this is not JSON'"),
    ("not_completion", r"answered JSON that is not a chat completion"),
    ("no_logprobs", r"answered without token logprobs.*vLLM and SGLang do; `transformers serve` 5.x ignores"),
    ("bad_model", r"answered HTTP 404 .*does not exist.*GET http://127.0.0.1:\d+/bad_model/v1/models"),
    ("refused", r"refused the connection \(is it running\? is the port right\?\) \(2 tries\)\. Start the server"),
])
def test_each_fault_gives_its_message_quickly(mode, match):
    with fault_server() as srv:
        url = refused_url() if mode == "refused" else srv.url(mode)
        r = judge(url, timeout=0.5, retries=1, concurrency=4)
        with pytest.raises(JudgeError, match=match) as info:
            r(images(4), ["a cat"] * 4)
        assert f"the judge server {url} (model 'judge')" in str(info.value)
        assert srv.hits[mode] <= 4 * 2         # quickly: at most 1 + retries tries per image, then the message
        if mode in ("malformed", "no_logprobs", "not_completion", "bad_model"):
            assert srv.hits[mode] <= 4        # not retried: a second try would answer the same


def test_transient_failures_are_retried_with_backoff(monkeypatch):
    from trainer.rewards import judge_http
    waits, wait = [], judge_http.Connections.wait
    monkeypatch.setattr(judge_http.Connections, "wait", lambda self, s: waits.append(s) or wait(self, s))
    with fault_server() as srv:
        srv.flaky_failures = 2
        r = judge(srv.url("flaky"), retries=3, backoff=0.05, concurrency=1)
        s = r(images(1), ["a cat"])
        assert srv.hits["flaky"] == 3 and waits == [0.05, 0.1]              # backoff 0.05 · 2^(try − 1)
        assert 0 < float(s) < 1
        srv.flaky_failures = 100
        with pytest.raises(JudgeError, match=r"HTTP 503.*warming up.*\(3 tries\)"):
            judge(srv.url("flaky"), retries=2, backoff=0.01)(images(1, seed=5), ["a cat"])


def test_a_failing_judge_stops_training_with_its_message_and_writes_no_file(tiny_kontext_path, edits_jsonl,
                                                                             tmp_path):
    from testsupport.trainer_helpers import tiny_config

    from trainer.run.train import run
    messages = {"timeout": "did not answer within 1 s", "500": "HTTP 500", "malformed": "not JSON",
                "no_logprobs": "without token logprobs", "refused": "refused the connection"}
    with fault_server() as srv:
        for mode, message in messages.items():
            out = tmp_path / mode
            cfg = tiny_config(tiny_kontext_path, out, backbone="flux_kontext", steps=1)
            cfg.data.prompts, cfg.data.edits = None, str(edits_jsonl)
            cfg.objectives[1].reward = "vlm_judge"
            url = refused_url() if mode == "refused" else srv.url(mode)
            cfg.objectives[1].kwargs = {"base_url": url, "model": "judge", "images": ["source", "image"],
                                        "timeout": 1, "retries": 1, "backoff": 0.01,
                                        "cache_dir": str(out / "judge_cache")}
            cfg.output.checkpoint_every = 1
            with pytest.raises(JudgeError, match=message):
                run(cfg)
            assert not list(out.rglob("*.safetensors")) and not (out / "checkpoints").exists()
            assert not list((out / "judge_cache").glob("*"))     # no score, no half-written cache file


# ------------------------------------------------------------------------------- the cache on disk

def test_scores_are_cached_per_image_and_question_across_runs(tmp_path):
    cache = tmp_path / "cache"
    with fault_server() as srv:
        imgs = images(3)
        imgs[2] = imgs[0]                                            # a repeat inside the batch: asked once
        r = judge(srv.url("ok"), cache_dir=str(cache))
        first = r(imgs, ["a cat", "a dog", "a cat"])
        assert srv.hits["ok"] == 2 and r.requests_sent == 2
        files = list(cache.glob("judge-*.json"))
        assert len(files) == 1 and not list(cache.glob("*.tmp"))
        assert len(json.loads(files[0].read_text())["scores"]) == 2
        (cache / "judge-broken.json").write_text('{"version": 1, "scores": {')   # someone's half file: skipped
        again = judge(srv.url("ok"), cache_dir=str(cache))                    # a re-run: a new process
        assert torch.equal(again(imgs, ["a cat", "a dog", "a cat"]), first)
        assert srv.hits["ok"] == 2 and again.requests_sent == 0
        again(imgs[:1], ["a bird"])                                  # another question: asked
        other_tpl = judge(srv.url("ok"), cache_dir=str(cache), template="Is this {prompt}? Yes or No?")
        other_tpl(imgs[:1], ["a cat"])
        assert srv.hits["ok"] == 4
    with pytest.raises(RewardError, match="is a file; give a folder"):
        judge("http://127.0.0.1:1/v1", cache_dir=str(files[0]))


# --------------------------------------------------------------------- a real tiny VLM on a server

@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return make_tiny_qwen2_vl(tmp_path_factory.mktemp("vlm") / "tiny_qwen2_vl")


@pytest.fixture(scope="module")
def vlm_url(tiny_vlm):
    with running_server(tiny_vlm, max_batch=8, max_logprobs=1000) as url:
        yield url


def served_requests(url) -> int:
    with urllib.request.urlopen(url.replace("/v1", "/stats"), timeout=10) as resp:
        return sum(json.loads(resp.read())["batches"])


def real_judge(url, **kw):
    kw.setdefault("model", SERVED_NAME)
    kw.setdefault("top_logprobs", 300)             # the whole tiny vocabulary: every answer token is listed
    kw.setdefault("timeout", 60)
    return judge(url, **kw)


def test_real_server_scores_a_batch_deterministically(vlm_url):
    imgs = images(6)
    prompts = ["a red cat", "a blue dog", "a tree", "a red cat", "snow", "a house"]
    a = real_judge(vlm_url)(imgs, prompts)
    assert a.shape == (6,) and torch.all((a > 0) & (a < 1))
    b = real_judge(vlm_url, concurrency=1)(imgs, prompts)            # one by one: other batches on the server
    assert torch.allclose(a, b, atol=1e-5)
    c = real_judge(vlm_url)(imgs[[3, 0]], [prompts[3], prompts[0]])  # the same image, elsewhere in a batch
    assert torch.allclose(c, a[[3, 0]], atol=1e-5)
    assert len(set(a.tolist())) > 1                                  # different images, different scores


def test_real_server_scores_match_a_hand_computation_from_its_raw_answer(vlm_url):
    from trainer.rewards.image import to_uint8
    from trainer.rewards.vlm_judge import data_url, encode_image
    img, src = images(1, seed=3), images(1, seed=4)
    for kw in ({}, {"answers": DIGITS, "score": "expected", "images": ["source", "image"],
                    "template": 'Edit "{prompt}". Rate 0 to 5. Answer with one digit.'}):
        r = real_judge(vlm_url, **kw)
        got = float(r(img, ["make it snow"], src))
        arrays = {"image": to_uint8(img)[0], "source": to_uint8(src)[0]}
        body = r.body([data_url(encode_image(arrays[role]), "png") for role in r.images], r.question("make it snow"))
        req = urllib.request.Request(vlm_url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        raw = json.loads(urllib.request.urlopen(req, timeout=60).read())
        top = raw["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        p = {e["token"]: math.exp(e["logprob"]) for e in top}
        if r.mode == "probability":
            want = (p["Yes"] + p[" Yes"]) / (p["Yes"] + p[" Yes"] + p["No"] + p[" No"])
        else:
            want = sum(p[d] * int(d) for d in DIGITS) / sum(p[d] for d in DIGITS) / 5
        assert got == pytest.approx(want, abs=1e-6)
        assert sum(math.exp(e["logprob"]) for e in top) == pytest.approx(1.0, abs=1e-4)  # the full softmax


def test_several_processes_score_at_once_and_share_the_cache_folder(vlm_url, tmp_path):
    """As DDP ranks do: each process has its own requests in flight and writes its own cache file."""
    script = tmp_path / "rank.py"
    script.write_text(
        "import json, sys, torch\n"
        "from trainer.rewards import build_reward\n"
        f"r = build_reward({{'id': 'vlm_judge', 'base_url': {vlm_url!r}, 'model': {SERVED_NAME!r}, "
        f"'top_logprobs': 300, 'cache_dir': {str(tmp_path / 'cache')!r}}})\n"
        "imgs = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(int(sys.argv[1])))\n"
        "print(json.dumps(r(imgs, ['a cat'] * 4).tolist()))\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, str(script), str(seed)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for seed in (0, 1)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    got = [torch.tensor(json.loads(o[0].strip().splitlines()[-1])) for o in outs]
    for seed, scores in zip((0, 1), got):
        here = real_judge(vlm_url)(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(seed)),
                                   ["a cat"] * 4)
        assert torch.allclose(scores, here, atol=1e-5)
    assert len(list((tmp_path / "cache").glob("judge-*.json"))) == 2


# --------------------------------------------------------------------------------- the recipe

def _recipe_for_tests(url: str, lpips_dir: Path, tmp_path: Path, edits: Path, cache_dir: Path | None = None) -> Path:
    """The recipe file with the judge on the local server and local random LPIPS weights."""
    data = yaml.safe_load(RECIPE.read_text())
    for ob in data["objectives"]:
        specs = [ob["kwargs"]] if ob["reward"] == "vlm_judge" else [t["reward"] for t in ob["kwargs"]["terms"]]
        for spec in specs:
            if isinstance(spec, dict) and spec.get("id", "vlm_judge") == "vlm_judge" and "base_url" in spec:
                spec.update(base_url=url, model=SERVED_NAME, top_logprobs=300, image_format="png")
                if cache_dir is not None:
                    spec["cache_dir"] = str(cache_dir)
            if isinstance(spec, dict) and spec.get("id") == "lpips":
                spec.update(path=str(lpips_dir / "alex_lin.pth"), backbone=str(lpips_dir / "alex_backbone.safetensors"))
    data["data"]["edits"] = str(edits)
    out = tmp_path / "recipe.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _random_lpips(d: Path) -> Path:
    from safetensors.torch import save_file

    from trainer.rewards.lpips import LPIPSNet
    torch.manual_seed(4)
    ref = LPIPSNet("alex")
    save_file({f"features.{k}": v for k, v in ref.features.state_dict().items()}, str(d / "alex_backbone.safetensors"))
    torch.save({f"lin{i}.model.1.weight": lin.weight.detach().abs() for i, lin in enumerate(ref.lins)},
               str(d / "alex_lin.pth"))
    return d


def test_the_recipe_config_loads_and_composes_through_the_registry(tmp_path, vlm_url, edits_jsonl):
    from trainer.config import load_config
    from trainer.rl.scoring import objective_rewards
    cfg = load_config(RECIPE)                                        # the shipped file validates as it is
    assert [o.name for o in cfg.objectives] == ["instruction", "preservation"]
    inst, pres = cfg.objectives
    assert inst.reward == "vlm_judge" and inst.kwargs["score"] == "expected" and inst.kwargs["answers"] == DIGITS
    assert pres.reward == "composite" and [t["weight"] for t in pres.kwargs["terms"]] == [1.0, 0.5, 0.5]
    judge_term = pres.kwargs["terms"][0]["reward"]
    assert judge_term["base_url"] == inst.kwargs["base_url"] and judge_term["template"] != inst.kwargs["template"]
    assert "follow the instruction strictly" in inst.kwargs["template"]
    assert "exactly the same as the first" in judge_term["template"]

    cfg = load_config(_recipe_for_tests(vlm_url, _random_lpips(tmp_path), tmp_path, edits_jsonl))
    (_, r_inst), (_, r_pres) = objective_rewards(cfg, None)
    assert isinstance(r_inst, VLMJudge) and r_inst.needs_source and r_inst.images == ["source", "image"]
    assert isinstance(r_pres, CompositeReward) and r_pres.needs_source and r_pres.offset == 0.5
    assert [t.name for _, t in r_pres.terms] == ["preservation/judge", "preservation/lpips", "preservation/ssim"]
    src = images(2, seed=7)
    edited = (src + 0.2 * images(2, seed=8)).clamp(0, 1)
    j, lp, ss = (t(edited, ["add snow"] * 2, src) for _, t in r_pres.terms)
    assert r_pres(edited, ["add snow"] * 2, src).tolist() == pytest.approx((0.5 + j + 0.5 * lp + 0.5 * ss).tolist(),
                                                                          abs=1e-5)
    same = r_pres(src, ["add snow"] * 2, src) - r_pres.terms[0][1](src, ["add snow"] * 2, src)
    assert same.tolist() == pytest.approx([0.5 + 0.0 + 0.5] * 2, abs=1e-5)    # ½(1 − 0) + ½·1 for identical


def test_the_recipe_trains_on_tiny_flux_kontext_with_the_judge_served_locally(tiny_kontext_path, edits_jsonl,
                                                                               vlm_url, tmp_path):
    """Training, then `trainer eval` twice: the re-run takes every judge score from the cache."""
    from pareto_core import load_paretoslider
    from trainer.config import load_config
    from trainer.evaluation.cli import evaluate_main
    from trainer.run.train import run
    recipe = _recipe_for_tests(vlm_url, _random_lpips(tmp_path), tmp_path, edits_jsonl, tmp_path / "judge_cache")
    t = {"steps": 2, "prompts_per_step": 1, "group_size": 2, "sample_steps": 2, "train_timesteps": 1,
         "minibatch": 4}
    overrides = [f"model.path={tiny_kontext_path}", "model.resolution=32", "model.max_sequence_length=8",
                 "model.gradient_checkpointing=false", "lora.rank=2", "lora.alpha=4", "preference.hidden=16",
                 f"output.dir={tmp_path / 'run'}", "output.checkpoint_every=0", "output.progress=false",
                 "output.tensorboard=false", "train.lr=3e-3"] + [f"train.{k}={v}" for k, v in t.items()]
    cfg = load_config(recipe, overrides)
    before = served_requests(vlm_url)
    t0 = time.perf_counter()
    path = run(cfg)
    print(f"recipe on tiny Flux Kontext, judge served locally: 2 steps in {time.perf_counter() - t0:.1f}s")
    # 2 steps x 4 images (1 edit x 2 omegas x 2 samples) x 2 questions, each answered by the server
    assert served_requests(vlm_url) - before == 16
    f = load_paretoslider(path)
    assert [o.name for o in f.metadata.objectives] == ["instruction", "preservation"]
    assert [o.reward for o in f.metadata.objectives] == ["vlm_judge", "composite"]
    csv = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    head = csv[0].split(",")
    row = dict(zip(head, csv[-1].split(",")))
    assert 0 < float(row["rewards/instruction/mean"]) < 1
    assert 0 < float(row["rewards/preservation/mean"]) < 3

    argv = [str(path), "--config", str(recipe), "--points", "3", "--steps", "2", "--no-progress",
            "--no-write-front", "--max-strips", "0"] + [x for o in overrides[:5] for x in ("--set", o)]
    counts, fronts = [], []
    for i in range(2):
        before = served_requests(vlm_url)
        assert evaluate_main(argv + ["--out", str(tmp_path / f"eval{i}")]) == 0
        counts.append(served_requests(vlm_url) - before)
        fronts.append(json.loads((tmp_path / f"eval{i}" / "eval.json").read_text()))
    # 2 edit pairs x (3 omegas + the base model) x 2 questions, then nothing: a re-run asks again for nothing
    assert counts == [16, 0]
    for key in ("omega", "scores", "std", "base", "hypervolume"):
        assert fronts[0][key] == fronts[1][key], key


def test_the_recipe_trains_data_parallel_with_two_processes_judged_at_once(tiny_kontext_path, edits_jsonl, vlm_url,
                                                                           tmp_path):
    """torchrun, 2 CPU processes (gloo), as test_ddp.py: both ranks ask the judge at the same time."""
    from pareto_core import load_paretoslider
    recipe = _recipe_for_tests(vlm_url, _random_lpips(tmp_path), tmp_path, edits_jsonl)
    sets = [f"model.path={tiny_kontext_path}", "model.resolution=32", "model.max_sequence_length=8",
            "model.gradient_checkpointing=false", "lora.rank=2", "lora.alpha=4", "preference.hidden=16",
            f"output.dir={tmp_path / 'run'}", "output.checkpoint_every=0", "output.progress=false",
            "output.tensorboard=false", "train.steps=2", "train.prompts_per_step=1", "train.group_size=2",
            "train.sample_steps=2", "train.train_timesteps=1", "train.minibatch=4"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainer", "train", "--config", str(recipe)] + [x for o in sets for x in ("--set", o)]
    before = served_requests(vlm_url)
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert served_requests(vlm_url) - before == 2 * 16          # 2 ranks x 2 steps x 4 images x 2 questions
    assert load_paretoslider(tmp_path / "run" / "flux_kontext_edit_judge.safetensors").metadata.training[
        "processes"] == 2
