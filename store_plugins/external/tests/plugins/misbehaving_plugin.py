#!/usr/bin/env python3
"""A deliberately misbehaving external store plugin, for the external store's tests only.

It keeps secrets in memory and speaks protocol 1 correctly, except where an option says
otherwise:

  --handshake MODE   error | wrong-version | exit | silent | garbage: fail the handshake
  --hang-on METHOD   on a call of METHOD, stop reading and answering anything (a hung child)
  --ignore METHOD    never answer calls of METHOD, keep answering the others
  --crash-on METHOD  exit at once (status 3) when a call of METHOD arrives
  --slow-ms N        answer every call after N milliseconds (one thread per call)
"""
import argparse
import json
import os
import struct
import sys
import threading
import time


def read_frame(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (length,) = struct.unpack(">I", head)
    return json.loads(stream.read(length).decode("utf-8"))


lock = threading.Lock()
PARENT = os.getppid()


def hang():
    """Do nothing, forever - but leave once the parent (the test) is gone."""
    while os.getppid() == PARENT:
        time.sleep(0.1)
    sys.exit(0)


def send(out, message):
    body = json.dumps(message).encode("utf-8")
    with lock:
        out.write(struct.pack(">I", len(body)) + body)
        out.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--handshake", default="ok")
    ap.add_argument("--hang-on")
    ap.add_argument("--ignore")
    ap.add_argument("--crash-on")
    ap.add_argument("--slow-ms", type=int, default=0)
    opts = ap.parse_args()
    stdin, out = sys.stdin.buffer, sys.stdout.buffer

    hello = read_frame(stdin)
    if hello is None:
        return
    if opts.handshake == "error":
        send(out, {"id": hello["id"], "error": {
            "code": "config", "message": "settings.directory is required"}})
        return
    if opts.handshake == "wrong-version":
        send(out, {"id": hello["id"], "result": {
            "protocol_version": 99, "plugin_name": "misbehaving", "plugin_version": "0"}})
    elif opts.handshake == "exit":
        sys.stderr.write("Traceback (most recent call last):\n")
        sys.stderr.write("RuntimeError: cannot open the backend\n")
        sys.exit(2)
    elif opts.handshake == "silent":
        hang()
    elif opts.handshake == "garbage":
        out.write(b"HTTP/1.1 200 OK\r\n\r\n")
        out.flush()
        hang()
    else:
        send(out, {"id": hello["id"], "result": {
            "protocol_version": 1, "plugin_name": "misbehaving", "plugin_version": "0"}})
    sys.stderr.write("misbehaving plugin ready (pid %d)\n" % os.getpid())
    sys.stderr.flush()

    items = {}

    def answer(req):
        method, params = req["method"], req["params"]
        if opts.slow_ms:
            time.sleep(opts.slow_ms / 1000.0)
        if method == "store_secret":
            key = params["secret_id"]
            items[key] = (params["payload"], params["content_type"])
            result = {"metadata": {"key": key}}
        elif method == "get_secret":
            key = params["metadata"].get("key")
            if key not in items:
                send(out, {"id": req["id"], "error": {"code": "not_found", "message": key}})
                return
            result = {"payload": items[key][0], "content_type": items[key][1]}
        elif method == "delete_secret":
            items.pop(params["metadata"].get("key"), None)
            result = {}
        elif method in ("store_secret_supports", "generate_supports"):
            result = {"supported": method == "store_secret_supports"}
        else:
            send(out, {"id": req["id"], "error": {"code": "unsupported", "message": method}})
            return
        send(out, {"id": req["id"], "result": result})

    while True:
        req = read_frame(stdin)
        if req is None:
            return
        method = req.get("method")
        if method == opts.crash_on:
            os._exit(3)
        if method == opts.hang_on:
            hang()
        if method == opts.ignore:
            continue
        if opts.slow_ms:
            threading.Thread(target=answer, args=(req,), daemon=True).start()
        else:
            answer(req)


if __name__ == "__main__":
    main()
