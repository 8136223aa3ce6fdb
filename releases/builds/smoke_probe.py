"""The smoke test's probe: start the image's server and ask it for a prediction, inside a network of its own.

Run as `unshare --net -- python smoke_probe.py ... -- SERVER COMMAND` (releases.builds.smoke): this process
brings up loopback in the new network namespace, starts the server there (buildah run, chroot isolation: the
model's code sees the image's files only, runs as the image's user, with the environment the image declares),
waits for /ping, POSTs the model's input example to /invocations, and prints one JSON line with the outcome.
Nothing outside the namespace is reachable from the model: no database, no metadata service, no network.

Standard library only, no Django: it runs beside untrusted code and must not hold the gateway's settings.
"""
import argparse
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

LOG_TAIL_LINES = 40
MAX_ANSWER_BYTES = 1024 * 1024


def _bring_up_loopback() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def _limit_memory(megabytes: int):
    def apply():
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _get(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def _post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_ANSWER_BYTES + 1)


def server_words(answer: bytes) -> str:
    """What an error answer says: MLflow's message and the last line of its stack trace (the model's own error)."""
    try:
        document = json.loads(answer[:MAX_ANSWER_BYTES])
    except ValueError:
        return answer[:600].decode("utf-8", "replace").strip()
    if not isinstance(document, dict):
        return str(document)[:600]
    trace = str(document.get("stack_trace") or "").strip().splitlines()
    # Every exception in the chain (a model's error is often wrapped by MLflow's), at most the last three.
    raised = [line[:300] for line in trace if re.match(r"[A-Za-z_][\w.]*(Error|Exception): ", line)][-3:]
    return " ".join([str(document.get("message", ""))[:400], *(raised or trace[-1:])]).strip()


def well_formed(answer: bytes) -> str:
    """"" if `answer` is MLflow's prediction document ({"predictions": ...}), else why not."""
    if len(answer) > MAX_ANSWER_BYTES:
        return f"the answer is larger than {MAX_ANSWER_BYTES} bytes"
    try:
        document = json.loads(answer)
    except ValueError:
        return "the answer is not JSON"
    if not isinstance(document, dict) or "predictions" not in document:
        return 'the answer has no "predictions"'
    return ""


def probe(port: int, example: bytes | None, deadline: float, server: subprocess.Popen) -> dict:
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while _get(f"{base}/ping", 2) != 200:
        if server.poll() is not None:
            return {"passed": False, "message": f"the server exited with code {server.returncode} before "
                                                "answering /ping"}
        if time.monotonic() > deadline:
            return {"passed": False, "message": "the server did not answer /ping in time"}
        time.sleep(0.25)
    result = {"pinged": True, "ready_seconds": round(time.monotonic() - started, 2)}
    if example is None:
        return {**result, "passed": True, "endpoint": "/ping", "status": 200,
                "message": "pinged only: the model has no input example"}
    sent = time.monotonic()
    try:
        status, answer = _post(f"{base}/invocations", example, max(deadline - sent, 1))
    except (OSError, ValueError) as exc:
        return {**result, "passed": False, "endpoint": "/invocations",
                "message": f"/invocations did not answer ({type(exc).__name__})"}
    result.update(endpoint="/invocations", status=status, latency_ms=round((time.monotonic() - sent) * 1000, 1),
                  input_sha256=hashlib.sha256(example).hexdigest(),
                  answer_sha256=hashlib.sha256(answer[:MAX_ANSWER_BYTES]).hexdigest())
    if status != 200:  # the server's own words (MLflow puts the model's error in the body) help most
        return {**result, "passed": False, "message": f"/invocations answered HTTP {status}: {server_words(answer)}"}
    problem = well_formed(answer)
    if problem:
        return {**result, "passed": False, "message": f"/invocations answered 200, but {problem}"}
    return {**result, "passed": True, "message": "answered /ping and a prediction for the input example",
            "predictions": json.loads(answer)["predictions"]}


def _stop_everything_else_in_this_network() -> None:
    """Kill every other process in this namespace: the server may have left its process group (setsid)."""
    own = os.readlink("/proc/self/ns/net")
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") == own:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to read
            pass


def _tail(path: str) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(fh.tell() - 64 * 1024, 0))
        lines = fh.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--input", help="the input example to POST (a file); none: ping only")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    deadline = time.monotonic() + args.timeout
    example = open(args.input, "rb").read() if args.input else None
    _bring_up_loopback()
    with tempfile.NamedTemporaryFile(prefix="smoke-log-") as log:
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=_limit_memory(args.memory_mb),
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            result = probe(args.port, example, deadline, server)
        finally:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _stop_everything_else_in_this_network()
            server.wait()
        log.flush()
        result["log_tail"] = _tail(log.name)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
