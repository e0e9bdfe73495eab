"""The event bus under load, driven by boto3 (bench/events.sh runs it).

    events.py rules --rules N --matching M --port P
        N rules with an API destination target each: M match PutSecretValue on
        secrets named latency/..., the others names no write here has.
    events.py latency --count C --matching M --port P
        C PutSecretValues of latency/db, one at a time; for each, the time from
        the acknowledged write to the first and to the M-th delivery at a
        receiver on 127.0.0.1:P. Prints p50/p99 of both as JSON.
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config


def clients():
    kw = dict(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
              config=Config(retries={"max_attempts": 3}))
    return boto3.client("secretsmanager", **kw), boto3.client("events", **kw)


def rules(n, matching, port):
    _, ev = clients()
    conn = ev.create_connection(Name="bench", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "bench"}})
    dest = ev.create_api_destination(Name="bench", ConnectionArn=conn["ConnectionArn"],
                                     InvocationEndpoint=f"http://127.0.0.1:{port}/hook",
                                     HttpMethod="POST", InvocationRateLimitPerSecond=100000)
    for i in range(n):
        prefix = "latency/" if i < matching else f"nomatch-{i}/"
        pattern = {"source": ["aws.secretsmanager"],
                   "detail": {"eventName": ["PutSecretValue"], "name": [{"prefix": prefix}]}}
        ev.put_rule(Name=f"bench-{i}", EventPattern=json.dumps(pattern))
        ev.put_targets(Rule=f"bench-{i}", Targets=[{"Id": "t", "Arn": dest["ApiDestinationArn"]}])


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 2)


def latency(count, matching, port):
    arrivals = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            now = time.monotonic()
            version = json.loads(body)["detail"].get("versionId")
            with lock:
                arrivals.setdefault(version, []).append(now)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    # Ten deliveries arrive at once: a listen backlog of 5 (the default) would
    # drop connections and time them by TCP's 1 s retransmission instead.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sm, _ = clients()
    sm.create_secret(Name="latency/db", SecretString="v0")
    first, last = [], []
    for i in range(count):
        v = sm.put_secret_value(SecretId="latency/db", SecretString=f"v{i}")["VersionId"]
        acked = time.monotonic()
        deadline = acked + 30
        while time.monotonic() < deadline:
            with lock:
                got = list(arrivals.get(v, []))
            if len(got) >= matching:
                break
            time.sleep(0.0005)
        if len(got) < matching:
            sys.exit(f"change {i}: only {len(got)} of {matching} deliveries within 30 s")
        first.append(min(got) - acked)
        last.append(max(got) - acked)
    server.shutdown()
    print(json.dumps({"count": count, "first_p50_ms": pct(first, 0.5), "first_p99_ms": pct(first, 0.99),
                      "all_p50_ms": pct(last, 0.5), "all_p99_ms": pct(last, 0.99)}))


if __name__ == "__main__":
    a = argparse.ArgumentParser()
    a.add_argument("what", choices=["rules", "latency"])
    a.add_argument("--rules", type=int, default=1000)
    a.add_argument("--matching", type=int, default=10)
    a.add_argument("--count", type=int, default=200)
    a.add_argument("--port", type=int, required=True)
    o = a.parse_args()
    if o.what == "rules":
        rules(o.rules, o.matching, o.port)
    else:
        latency(o.count, o.matching, o.port)
