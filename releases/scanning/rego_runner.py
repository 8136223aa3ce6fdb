"""Evaluate one Rego policy in this (throw-away) process: `python -m releases.scanning.rego_runner`.

regopy (rego-cpp) can abort the whole process on some misuse, so the gateway never
loads it in the web server or the worker: it runs this module as a child process,
feeds it {"policy": text, "input": document} on stdin, and reads one line that starts
with RESULT_MARKER. The policy's package is `gateway`; it may define `allow` (true to
pass) and `deny` (a set of reason strings).
"""
import json
import sys

RESULT_MARKER = "GATEWAY-REGO-RESULT "


def main() -> int:
    request = json.load(sys.stdin)
    from regopy import Interpreter, RegoError

    interpreter = Interpreter()
    try:
        interpreter.add_module("policy.rego", request["policy"])
        interpreter.set_input_term(json.dumps(request.get("input", {})))
        raw = str(interpreter.query("x := data.gateway"))
    except RegoError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if "errormsg" in line]
        message = "; ".join(line.split(":", 1)[-1].rstrip(")") for line in lines) or str(exc)[:300]
        print(RESULT_MARKER + json.dumps({"ok": False, "error": message[:500]}))
        return 0
    try:
        output = json.loads(raw)
    except ValueError:  # "undefined"
        output = None
    document = (output.get("bindings") or {}).get("x") if isinstance(output, dict) else None
    if not isinstance(document, dict):
        print(RESULT_MARKER + json.dumps({"ok": False, "error": "the policy defines no package `gateway`"}))
        return 0
    print(RESULT_MARKER + json.dumps({"ok": True, "allow": document.get("allow"), "deny": document.get("deny", [])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
