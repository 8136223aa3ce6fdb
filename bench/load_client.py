#!/usr/bin/env python
"""The load generator of bench/load.py, run by it as a separate process (so that its CPU and GIL are not
the server's, and its measurements are taken outside the server).

    load_client.py --url URL --tokens FILE --clients N (--seconds S | --burst N) [...] --out FILE

Closed loop: each client is a thread with its own user's token and its own keep-alive connection; it
sends a request, reads the whole answer, records it, and sends the next (no think time), until the
deadline or the request cap. The standard library's http.client is used rather than requests: at a few
hundred requests a second on a 2-core machine shared with the server, the client's own CPU per request
is part of the measurement, and http.client spends about a third of what requests does.

Writes JSON: every sample as [kind, status, milliseconds, end time relative to the start], and for a
burst the ids of the releases created.
"""
import argparse
import http.client
import itertools
import json
import random
import threading
import time
import uuid
from urllib.parse import urlsplit

# Answers a client counts as success, by request kind; anything else is an error, grouped by status.
EXPECTED = {"list": 200, "detail": 200, "scan": 200, "findings": 200, "create": 201, "replay": 201}


def parse_mix(text: str) -> list[tuple[str, int]]:
    mix = []
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind not in EXPECTED or not weight.isdigit():
            raise SystemExit(f"--mix: {part!r} is not KIND=WEIGHT with KIND in {sorted(EXPECTED)}")
        mix.append((kind, int(weight)))
    return mix


class Client:
    """One simulated user: a token, a connection, and the previous Idempotency-Key (for replays)."""

    def __init__(self, base: str, token: str, timeout: float, body: dict):
        parts = urlsplit(base)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.body = json.dumps(body)
        self.conn: http.client.HTTPConnection | None = None
        self.last_key: str | None = None
        self.last_id: int | None = None  # the release the last key created
        self.created: list[int] = []

    def request(self, method: str, path: str, headers: dict | None = None, body: str | None = None):
        """(status or 'conn:<error>', body bytes, response headers). A broken connection is opened again
        for the next request and the failure is counted, never retried: a retry would hide it."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = self.conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data, response
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return f"conn:{type(exc).__name__}", b"", None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, kind: str, release_id: int):
        if kind == "list":
            return self.request("GET", "/api/releases/")
        if kind == "detail":
            return self.request("GET", f"/api/releases/{release_id}/")
        if kind == "scan":
            return self.request("GET", f"/api/releases/{release_id}/scan/")
        if kind == "findings":
            return self.request("GET", f"/api/releases/{release_id}/scan/findings/")
        # A replay sends the previous key with the same body: the same release comes back (201, header
        # Idempotent-Replayed), and no second release is created.
        replay = kind == "replay" and self.last_key is not None
        key = self.last_key if replay else uuid.uuid4().hex
        status, data, response = self.request("POST", "/api/releases/",
                                              {"Content-Type": "application/json", "Idempotency-Key": key}, self.body)
        if status == 201:
            release_id = json.loads(data)["id"]
            if replay:
                # The same key must give the same release, marked as a replay: anything else is an error.
                if release_id != self.last_id or response.getheader("Idempotent-Replayed") != "true":
                    status = "replay-gave-another-release"
            else:
                self.last_key, self.last_id = key, release_id
                self.created.append(release_id)
        return status, data, response


def run_load(args, tokens: list[str]) -> dict:
    mix = parse_mix(args.mix)
    kinds, weights = [k for k, _ in mix], [w for _, w in mix]
    body = json.loads(args.create_body)
    started = time.perf_counter()
    measure_from = started + args.warmup
    ends = measure_from + args.seconds
    budget = itertools.count()  # shared request cap: bounded in count as well as in time
    samples: list[list] = []
    created: list[int] = []  # every release a create made (warm-up included), to compare with the database
    lock = threading.Lock()

    def client_loop(index: int):
        client = Client(args.url, tokens[index], args.timeout, body)
        rng = random.Random(index)  # each client's sequence is the same from run to run
        mine = []
        while True:
            sent = time.perf_counter()
            if sent >= ends or next(budget) >= args.max_requests:
                break
            kind = rng.choices(kinds, weights)[0]
            status, _, _ = client.send(kind, args.release_id)
            done = time.perf_counter()
            if sent >= measure_from:  # warm-up answers (cold caches, new connections) are not counted
                mine.append([kind, status, (done - sent) * 1000, done - measure_from])
        client.close()
        with lock:
            samples.extend(mine)
            created.extend(client.created)

    own_cpu = []

    def marks():
        """Tells bench/load.py (on stdout) when the measured window opens and closes, so that it reads the
        servers' and the machine's CPU counters at those moments; notes this process's own CPU too."""
        for moment, word in ((measure_from, "window-start"), (ends, "window-end")):
            time.sleep(max(0.0, moment - time.perf_counter()))
            own_cpu.append(time.process_time())
            print(word, flush=True)

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(args.clients)]
    marker = threading.Thread(target=marks, daemon=True)
    marker.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.warmup + args.seconds + args.timeout + 10)
    marker.join(1)
    window = min(time.perf_counter(), ends) - measure_from
    return {"samples": samples, "window_seconds": window, "clients": args.clients, "created": created,
            "client_cpu": own_cpu[-1] - own_cpu[0] if len(own_cpu) == 2 else None,
            "alive_after_deadline": sum(t.is_alive() for t in threads)}


def run_burst(args, tokens: list[str]) -> dict:
    """`--burst N` creates, spread over the clients as fast as they go, each with its own key."""
    bodies = [json.loads(b) for b in args.burst_bodies.split("|")]
    todo = itertools.count()
    samples, created = [], []
    lock = threading.Lock()
    first_sent = time.time()

    def client_loop(index: int):
        client = Client(args.url, tokens[index], args.timeout, {})
        mine = []
        while (n := next(todo)) < args.burst:
            client.body = json.dumps(bodies[n % len(bodies)])
            sent = time.perf_counter()
            status, _, _ = client.send("create", 0)
            mine.append(["create", status, (time.perf_counter() - sent) * 1000, 0])
        client.close()
        with lock:
            samples.extend(mine)
            created.extend(client.created)

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.burst * args.timeout)
    return {"samples": samples, "created": created, "first_sent": first_sent, "last_answer": time.time()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True, help="JSON file: a list of API tokens, one per client")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--timeout", type=float, default=30, help="per request, seconds")
    parser.add_argument("--release-id", type=int, default=0, help="the release with the large report")
    parser.add_argument("--mix", default="list=50,detail=20,scan=5,findings=10,create=12,replay=3")
    parser.add_argument("--create-body", default='{"model_name": "fraud-detector", "model_alias": "champion", '
                        '"target_environment": "staging"}')
    parser.add_argument("--burst", type=int, default=0, help="create this many releases, then stop")
    parser.add_argument("--burst-bodies", default="", help="request bodies separated by |, used in turn")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.tokens) as f:
        tokens = json.load(f)
    if len(tokens) < args.clients:
        raise SystemExit(f"{args.clients} clients need {args.clients} tokens; {len(tokens)} given")
    result = run_burst(args, tokens) if args.burst else run_load(args, tokens)
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
