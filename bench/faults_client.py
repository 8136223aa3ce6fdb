#!/usr/bin/env python
"""The traffic of bench/faults.py's PostgreSQL-restart scenario, run by it as a separate process.

    faults_client.py --url URL --tokens FILE --list-clients N --create-clients M --seconds S --out FILE

List clients GET /api/releases/ in a closed loop (with a short think time, so that the machine's 2 cores are
not all spent on them); create clients POST /api/releases/ with an Idempotency-Key every --create-interval
seconds. A create that did not get its 201 is sent again with the same key and body, as a client honouring
the key would (sooner than Retry-After: the point is to ask during the outage). Connections and their
errors are bench/load_client.py's Client.

Writes JSON: every answer as {kind, status, ms, sent, done (unix seconds), type (Content-Type),
retry_after, json (the body parses as a JSON object with "detail" or "id")}, and every key with the
statuses it got and the release id of its 201.
"""
import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_client import Client  # noqa: E402


def answer(kind: str, sent: float, status, data: bytes, response) -> dict:
    parsed = None
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        pass
    return {"kind": kind, "status": status, "ms": (time.time() - sent) * 1000, "sent": sent, "done": time.time(),
            "type": response.getheader("Content-Type", "") if response is not None else "",
            "retry_after": response.getheader("Retry-After") if response is not None else None,
            "json": isinstance(parsed, dict) and bool({"detail", "id", "results"} & set(parsed)),
            "body": data[:300].decode("utf-8", "replace") if status not in (200, 201) else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True, help="JSON file: a list of API tokens, one per client")
    parser.add_argument("--list-clients", type=int, default=4)
    parser.add_argument("--create-clients", type=int, default=2)
    parser.add_argument("--create-interval", type=float, default=1.0)
    parser.add_argument("--think", type=float, default=0.02, help="seconds between a list client's requests")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--bodies", required=True, help="JSON list of create bodies, used in turn")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tokens = json.loads(Path(args.tokens).read_text())
    bodies = json.loads(args.bodies)
    ends = time.time() + args.seconds
    samples, keys = [], {}
    lock = threading.Lock()

    def lister(index: int) -> None:
        client = Client(args.url, tokens[index], args.timeout, {})
        mine = []
        while time.time() < ends:
            sent = time.time()
            status, data, response = client.request("GET", "/api/releases/?page_size=10")
            mine.append(answer("list", sent, status, data, response))
            time.sleep(args.think)
        client.close()
        with lock:
            samples.extend(mine)

    def creator(index: int) -> None:
        client = Client(args.url, tokens[args.list_clients + index], args.timeout, {})
        mine, n, key = [], 0, None
        while time.time() < ends:
            if key is None:  # a new release; until its 201, the same key and body again
                key, body = uuid.uuid4().hex, json.dumps(bodies[(index + n * args.create_clients) % len(bodies)])
                n += 1
                with lock:
                    keys[key] = {"statuses": [], "id": None, "client": index}
            sent = time.time()
            status, data, response = client.request("POST", "/api/releases/",
                                                    {"Content-Type": "application/json", "Idempotency-Key": key},
                                                    body)
            mine.append(answer("create", sent, status, data, response))
            with lock:
                keys[key]["statuses"].append(status)
                if status == 201:
                    keys[key]["id"] = json.loads(data)["id"]
            if status == 201:
                key = None
            time.sleep(max(0.0, sent + args.create_interval - time.time()))
        client.close()
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=lister, args=(i,), daemon=True) for i in range(args.list_clients)]
    threads += [threading.Thread(target=creator, args=(i,), daemon=True) for i in range(args.create_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + args.timeout + 10)
    with open(args.out, "w") as f:
        json.dump({"samples": samples, "keys": keys, "alive_after_deadline": sum(t.is_alive() for t in threads)}, f)


if __name__ == "__main__":
    main()
