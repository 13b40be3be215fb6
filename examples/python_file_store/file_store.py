#!/usr/bin/env python3
"""A file-backed secret store for Coffer, as an out-of-process plugin.

It speaks version 1 of Coffer's external-plugin protocol (plugin_api/PROTOCOL.md) on its stdin
and stdout: 4-byte big-endian length + UTF-8 JSON frames. Standard library only.

* Each secret is one file in ``settings.directory``, written atomically before the call is
  acknowledged: temporary file, fsync, rename, fsync of the directory. Killing the process at
  any moment loses no acknowledged secret (an unacknowledged one may leave a ``.tmp-*`` file,
  removed at the next start).
* Files are bound to their owner: a file records the project and secret it was stored for, and
  ``get_secret`` refuses metadata handed back for another secret (``integrity``).
* It stores every secret type, as opaque bytes.
* It generates symmetric keys with ``secrets.token_bytes`` (AES 128/192/256, AES-XTS 256/512,
  HMAC-SHA1/256/384/512 keys of 128-512 bits).
* It generates RSA key pairs (2048/3072/4096 bits) only when ``settings.openssl`` names an
  ``openssl`` executable; keys and passphrases pass through pipes, never argv.

Calls run on a small thread pool, so several are in flight at once; responses go out as each
finishes, in any order. The process exits when its stdin ends.

stderr is the plugin's log (Coffer forwards it); payloads are never written there.
"""

import base64
import binascii
import concurrent.futures
import json
import os
import re
import secrets
import struct
import subprocess
import sys
import tempfile
import threading

PROTOCOL_VERSION = 1
PLUGIN_NAME = "python_file_store"
PLUGIN_VERSION = "1.0.0"
MAX_FRAME = 16 * 1024 * 1024
FILE_FORMAT = 1

# Symmetric generation, as Coffer's software crypto plugin supports it.
AES_BITS = (128, 192, 256)
AES_XTS_BITS = (256, 512)
HMAC_ALGORITHMS = ("hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512")
HMAC_BITS = (128, 192, 256, 384, 512)
RSA_BITS = (2048, 3072, 4096)

FILE_ID = re.compile(r"^[0-9a-f]{32}$")


class PluginError(Exception):
    """An error answered to Coffer: ``code`` is one of the protocol's error codes."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def log(level, message):
    """One line on stderr (Coffer logs WARNING/ERROR lines at warn, others at info)."""
    sys.stderr.write("%s %s\n" % (level, message))
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------

def read_exact(stream, n):
    """n bytes, or None at end of stream before the first byte."""
    chunks = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got == 0:
                return None
            raise EOFError("input ended inside a frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream):
    head = read_exact(stream, 4)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    if length > MAX_FRAME:
        raise ValueError("frame of %d bytes is too large" % length)
    body = read_exact(stream, length) if length else b""
    if body is None:
        raise EOFError("input ended inside a frame")
    return json.loads(body.decode("utf-8"))


class Output:
    """Writes response frames; one writer at a time."""

    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, message):
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        with self.lock:
            self.stream.write(struct.pack(">I", len(body)) + body)
            self.stream.flush()


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

def text(params, name):
    value = params.get(name)
    if not isinstance(value, str):
        raise PluginError("invalid_input", "%r must be a string" % name)
    return value


def decode_b64(value, name):
    if not isinstance(value, str):
        raise PluginError("invalid_input", "%r must be a base64 string" % name)
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise PluginError("invalid_input", "%r is not valid base64" % name)


def key_spec(params):
    spec = params.get("key_spec") or {}
    if not isinstance(spec, dict):
        raise PluginError("invalid_input", "'key_spec' must be an object")
    algorithm = spec.get("algorithm")
    mode = spec.get("mode")
    bits = spec.get("bit_length")
    return (algorithm.lower() if isinstance(algorithm, str) else None,
            bits if isinstance(bits, int) and not isinstance(bits, bool) else None,
            mode.lower() if isinstance(mode, str) else None,
            spec.get("passphrase"))


def symmetric_supported(algorithm, bits, mode):
    if algorithm == "aes" and mode == "xts":
        return bits in AES_XTS_BITS
    if algorithm == "aes":
        return bits in AES_BITS
    if algorithm in HMAC_ALGORITHMS:
        return bits in HMAC_BITS
    return False


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------

class FileStore:
    def __init__(self, settings):
        if not isinstance(settings, dict):
            raise PluginError("config", "settings must be an object")
        directory = settings.get("directory")
        if not isinstance(directory, str) or not directory:
            raise PluginError(
                "config", "settings.directory (where secrets are kept) is required")
        self.directory = os.path.abspath(directory)
        openssl = settings.get("openssl")
        if openssl is not None and not (isinstance(openssl, str) and
                                        os.access(openssl, os.X_OK)):
            raise PluginError(
                "config", "settings.openssl %r is not an executable" % (openssl,))
        self.openssl = openssl
        workers = settings.get("workers", 8)
        if not isinstance(workers, int) or not 1 <= workers <= 256:
            raise PluginError("config", "settings.workers must be 1..256")
        self.workers = workers
        try:
            self._prepare_directory()
        except OSError as exc:
            raise PluginError("config", "cannot use directory %s: %s"
                              % (self.directory, exc.strerror or exc))

    def _prepare_directory(self):
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            self._fsync_dir(os.path.dirname(self.directory))
        # Temporary files of writes that were never acknowledged.
        removed = 0
        for name in os.listdir(self.directory):
            if name.startswith(".tmp-"):
                os.unlink(os.path.join(self.directory, name))
                removed += 1
        if removed:
            self._fsync_dir(self.directory)
            log("INFO", "removed %d unfinished temporary file(s)" % removed)

    @staticmethod
    def _fsync_dir(path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _path(self, metadata):
        if not isinstance(metadata, dict):
            raise PluginError("invalid_input", "'metadata' must be an object")
        file_id = metadata.get("file_id")
        if not isinstance(file_id, str) or not FILE_ID.match(file_id):
            raise PluginError("invalid_input",
                              "metadata has no valid 'file_id' of this store")
        return os.path.join(self.directory, file_id + ".secret")

    def _write(self, project_id, secret_id, secret_type, content_type, payload):
        """Write one secret durably; return the metadata Coffer persists."""
        file_id = secrets.token_hex(16)
        record = json.dumps({
            "format": FILE_FORMAT,
            "project_id": project_id,
            "secret_id": secret_id,
            "secret_type": secret_type,
            "content_type": content_type,
            "payload": base64.b64encode(payload).decode("ascii"),
        }).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(record)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.directory, file_id + ".secret"))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self._fsync_dir(self.directory)
        return {"file_id": file_id}

    # -- calls --------------------------------------------------------------

    def store_secret(self, params):
        payload = decode_b64(params.get("payload"), "payload")
        meta = self._write(text(params, "project_id"), text(params, "secret_id"),
                           text(params, "secret_type"),
                           params.get("content_type") or "", payload)
        return {"metadata": meta}

    def get_secret(self, params):
        path = self._path(params.get("metadata"))
        try:
            with open(path, "rb") as f:
                record = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            raise PluginError("not_found", "no file for this secret")
        except ValueError:
            raise PluginError("integrity", "the secret's file is corrupt")
        if (record.get("project_id"), record.get("secret_id")) != (
                text(params, "project_id"), text(params, "secret_id")):
            raise PluginError("integrity",
                              "the file belongs to another project or secret")
        return {"payload": record["payload"],
                "content_type": record.get("content_type") or ""}

    def delete_secret(self, params):
        path = self._path(params.get("metadata"))
        try:
            os.unlink(path)
        except FileNotFoundError:
            return {}
        self._fsync_dir(self.directory)
        return {}

    def store_secret_supports(self, params):
        key_spec(params)
        return {"supported": True}

    def generate_supports(self, params):
        algorithm, bits, mode, _ = key_spec(params)
        if algorithm == "rsa":
            return {"supported": self.openssl is not None and bits in RSA_BITS}
        return {"supported": symmetric_supported(algorithm, bits, mode)}

    def generate_symmetric_key(self, params):
        algorithm, bits, mode, _ = key_spec(params)
        if not symmetric_supported(algorithm, bits, mode):
            raise PluginError("unsupported", "cannot generate %s/%s/%s keys"
                              % (algorithm, bits, mode))
        key = secrets.token_bytes(bits // 8)
        meta = self._write(text(params, "project_id"), text(params, "secret_id"),
                           "symmetric", "application/octet-stream", key)
        return {"metadata": meta}

    def generate_asymmetric_key(self, params):
        algorithm, bits, _, passphrase = key_spec(params)
        if self.openssl is None or algorithm != "rsa" or bits not in RSA_BITS:
            raise PluginError("unsupported", "cannot generate %s/%s key pairs"
                              % (algorithm, bits))
        if passphrase is not None:
            passphrase = decode_b64(passphrase, "key_spec.passphrase")
            if b"\n" in passphrase or b"\r" in passphrase or not passphrase:
                raise PluginError("invalid_input",
                                  "a passphrase must be one non-empty line")
        owners = {}
        for part in ("private_key", "public_key", "passphrase"):
            owner = params.get(part)
            if owner is None:
                continue
            if not isinstance(owner, dict):
                raise PluginError("invalid_input", "%r must be an object" % part)
            owners[part] = (text(owner, "project_id"), text(owner, "secret_id"))
        if "private_key" not in owners or "public_key" not in owners:
            raise PluginError("invalid_input", "private_key and public_key are required")
        if "passphrase" in owners and passphrase is None:
            raise PluginError("invalid_input",
                              "a passphrase target needs a passphrase in the key spec")

        private_pem = self._openssl(["genpkey", "-algorithm", "RSA",
                                     "-pkeyopt", "rsa_keygen_bits:%d" % bits])
        public_pem = self._openssl(["pkey", "-pubout"], stdin=private_pem)
        if passphrase is not None:
            private_pem = self._openssl(
                ["pkcs8", "-topk8", "-v2", "aes-256-cbc"], stdin=private_pem,
                password=passphrase)
        out = {
            "private_key": self._write(*owners["private_key"], "private",
                                       "application/octet-stream", private_pem),
            "public_key": self._write(*owners["public_key"], "public",
                                      "application/octet-stream", public_pem),
            "passphrase": None,
        }
        if "passphrase" in owners:
            out["passphrase"] = self._write(*owners["passphrase"], "passphrase",
                                            "text/plain", passphrase)
        return out

    def _openssl(self, args, stdin=b"", password=None):
        """Run openssl; key material and the passphrase go through pipes only."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        pass_fds = ()
        read_end = None
        if password is not None:
            read_end, write_end = os.pipe()
            os.write(write_end, password + b"\n")
            os.close(write_end)
            args = args + ["-passout", "fd:%d" % read_end]
            pass_fds = (read_end,)
        try:
            done = subprocess.run([self.openssl] + args, input=stdin,
                                  capture_output=True, env=env, pass_fds=pass_fds,
                                  timeout=300, check=False)
        finally:
            if read_end is not None:
                os.close(read_end)
        if done.returncode != 0:
            # openssl's stderr names its own failure, never the key.
            raise PluginError("internal", "openssl %s failed: %s" % (
                args[0], done.stderr.decode("utf-8", "replace").strip()[:300]))
        return done.stdout


# ---------------------------------------------------------------------------
# The protocol loop
# ---------------------------------------------------------------------------

CALLS = ("store_secret", "get_secret", "delete_secret", "store_secret_supports",
         "generate_supports", "generate_symmetric_key", "generate_asymmetric_key")


def answer(out, store, request):
    rid = request.get("id")
    method = request.get("method")
    params = request.get("params")
    try:
        if method not in CALLS:
            raise PluginError("unsupported", "unknown method %r" % (method,))
        if not isinstance(params, dict):
            raise PluginError("invalid_input", "params must be an object")
        result = getattr(store, method)(params)
        out.send({"id": rid, "result": result})
    except PluginError as exc:
        out.send({"id": rid, "error": {"code": exc.code, "message": exc.message}})
    except OSError as exc:
        # Disk trouble: worth retrying later. The message names the file, not its content.
        log("ERROR", "%s failed: %s" % (method, exc))
        out.send({"id": rid, "error": {"code": "unavailable",
                                       "message": "storage error: %s" % (exc.strerror or type(exc).__name__)}})
    except Exception as exc:  # a bug: report it, keep serving
        log("ERROR", "%s failed: %s" % (method, type(exc).__name__))
        out.send({"id": rid, "error": {"code": "internal",
                                       "message": "%s failed: %s" % (method, type(exc).__name__)}})


def handshake(out, request):
    params = request.get("params") or {}
    if request.get("method") != "handshake":
        raise SystemExit("the first frame must be the handshake")
    if PROTOCOL_VERSION not in (params.get("protocol_versions") or []):
        out.send({"id": request.get("id"), "error": {
            "code": "unsupported",
            "message": "this plugin speaks protocol %d only" % PROTOCOL_VERSION}})
        raise SystemExit("no common protocol version")
    try:
        store = FileStore(params.get("settings"))
    except PluginError as exc:
        out.send({"id": request.get("id"),
                  "error": {"code": exc.code, "message": exc.message}})
        raise SystemExit("bad settings: %s" % exc.message)
    out.send({"id": request.get("id"), "result": {
        "protocol_version": PROTOCOL_VERSION,
        "plugin_name": PLUGIN_NAME,
        "plugin_version": PLUGIN_VERSION,
    }})
    log("INFO", "serving store %r from %s (%d workers, RSA generation %s)" % (
        params.get("instance"), store.directory, store.workers,
        "on" if store.openssl else "off"))
    return store


def main():
    stdin = sys.stdin.buffer
    # The protocol owns fd 1: keep it for frames and point sys.stdout at stderr, so that a
    # stray print() cannot corrupt the stream.
    out = Output(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    first = read_frame(stdin)
    if first is None:
        return
    store = handshake(out, first)
    with concurrent.futures.ThreadPoolExecutor(max_workers=store.workers) as pool:
        while True:
            request = read_frame(stdin)
            if request is None:
                break  # Coffer closed our input: finish what is running, then exit
            pool.submit(answer, out, store, request)
    log("INFO", "input closed, exiting")


if __name__ == "__main__":
    main()
