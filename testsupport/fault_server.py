"""A scripted OpenAI-compatible server for the judge's failure paths (in-process, loopback).

    with fault_server() as srv:
        url = srv.url("500")          # http://127.0.0.1:<port>/500/v1: every request answers HTTP 500
        srv.hits["500"]               # how many requests that mode got

Modes (the first path segment): ok (a fixed chat completion with logprobs), timeout (answers only
after `srv.delay` seconds), 500, malformed (HTTP 200, not JSON), not_completion (JSON without
choices), no_logprobs (a completion with logprobs null, as `transformers serve` answers), flaky
(HTTP 503 for the first `srv.flaky_failures` requests, then ok), bad_model (HTTP 404, as vLLM for an
unknown model), nan / inf / huge (the "No" token's logprob is NaN, +Infinity or 1000), empty_top
(top_logprobs [] beside the sampled "Yes"), trickle (a valid answer sent one byte every
`srv.trickle` seconds; trickle_one_bad: the first request answers HTTP 400 once
`srv.one_bad_waits_for` requests are in, the others trickle; `srv.broken` counts trickles cut
off by the client), busy (HTTP 429 with `Retry-After: srv.retry_after` for the first
`srv.flaky_failures` requests, then ok), big (an answer over the judge's size cap). A refused
connection is `refused_url()`: a loopback port nobody listens on. GET <mode>/v1/models lists
`srv.models` (["judge"]), except in bad_listing (HTML) and no_listing (HTTP 404: a proxy without it).
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# the ok answer: first token "Yes"; top-5 with two spellings of yes and one of no
OK_TOP = [("Yes", -0.4), (" yes", -2.0), ("No", -1.6), ("Maybe", -3.0), ("1", -4.0)]


def ok_completion() -> dict:
    top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in OK_TOP]
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "judge",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes"}, "finish_reason": "length",
                         "logprobs": {"content": [dict(top[0], top_logprobs=top)]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}


class FaultServer:
    def __init__(self):
        self.hits: Counter = Counter()
        self.bodies: list[dict] = []
        self.delay = 3.0
        self.flaky_failures = 2
        self.trickle = 0.5
        self.retry_after = "1"
        self.models = ["judge"]
        self.broken = 0                          # trickled answers cut off by the client
        self.one_bad_waits_for = 4               # trickle_one_bad: the first answer waits for this many
        self.lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, data: bytes, ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:          # the judge shut the request down (abandoned or past its deadline)
                    pass

            def do_GET(self):
                mode = self.path.strip("/").split("/")[0]
                if mode == "bad_listing":
                    self._send(200, b"<html>this is not JSON", "text/html")
                elif mode == "no_listing":
                    self._send(404, b'{"error": {"message": "no such route"}}')
                elif self.path.rstrip("/").endswith("/v1/models"):
                    self._send(200, json.dumps({"object": "list", "data": [
                        {"id": m, "object": "model"} for m in srv.models]}).encode())
                else:
                    self._send(404, b'{"error": {"message": "no such route"}}')

            def _bad_logprob(self, value: str):
                text = json.dumps(ok_completion()).replace('"logprob": -1.6', f'"logprob": {value}')
                self._send(200, text.encode())

            def do_POST(self):
                mode = self.path.strip("/").split("/")[0]
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with srv.lock:
                    srv.hits[mode] += 1
                    n = srv.hits[mode]
                try:
                    srv.bodies.append(json.loads(body))
                except ValueError:
                    pass
                ok = json.dumps(ok_completion()).encode()
                if mode == "ok" or (mode == "flaky" and n > srv.flaky_failures):
                    self._send(200, ok)
                elif mode == "timeout":
                    time.sleep(srv.delay)
                    try:
                        self._send(200, ok)
                    except OSError:
                        pass
                elif mode == "500":
                    self._send(500, b'{"error": {"message": "CUDA out of memory (scripted)"}}')
                elif mode == "flaky":
                    self._send(503, b'{"error": {"message": "warming up"}}')
                elif mode == "malformed":
                    self._send(200, b"<html>this is not JSON", "text/html")
                elif mode == "not_completion":
                    self._send(200, b'{"object": "list", "data": []}')
                elif mode == "no_logprobs":
                    c = ok_completion()
                    c["choices"][0]["logprobs"] = None
                    self._send(200, json.dumps(c).encode())
                elif mode in ("nan", "inf", "huge"):
                    self._bad_logprob({"nan": "NaN", "inf": "Infinity", "huge": "1000"}[mode])
                elif mode == "empty_top":
                    c = ok_completion()
                    c["choices"][0]["logprobs"]["content"][0]["top_logprobs"] = []
                    self._send(200, json.dumps(c).encode())
                elif mode == "trickle_one_bad" and n == 1:
                    t0 = time.monotonic()     # once the others are in flight: HTTP 400, not retried
                    while srv.hits[mode] < srv.one_bad_waits_for and time.monotonic() - t0 < 10:
                        time.sleep(0.02)
                    self._send(400, b'{"error": {"message": "bad request (scripted)"}}')
                elif mode in ("trickle", "trickle_one_bad"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(ok)))
                    self.end_headers()
                    try:
                        for i in range(len(ok)):
                            self.wfile.write(ok[i:i + 1])
                            self.wfile.flush()
                            time.sleep(srv.trickle)
                    except OSError:
                        with srv.lock:
                            srv.broken += 1
                elif mode == "busy" and n <= srv.flaky_failures:
                    self.send_response(429)
                    self.send_header("Retry-After", srv.retry_after)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                elif mode == "busy":
                    self._send(200, ok)
                elif mode == "big":
                    self._send(200, b" " * ((4 << 20) + 10) + ok)
                elif mode == "bad_model":
                    self._send(404, b'{"error": {"message": "The model `judge` does not exist."}}')
                else:
                    self._send(404, b'{"error": {"message": "no such route"}}')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@contextmanager
def fault_server():
    srv = FaultServer()
    t = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
