#!/usr/bin/env python3
"""Normalize a probe.py transcript for comparison: header names lower-cased and response
headers sorted within each exchange (HTTP header names are case-insensitive and their order
carries no meaning; actix writes them lower-case, in its own order).

    normalize-transcript.py < transcript.txt > normalized.txt
"""
import sys


def main():
    out, headers = [], []
    in_response_headers = False
    for line in sys.stdin.read().split("\n"):
        if line.startswith("< ") and ":" in line and in_response_headers:
            name, value = line[2:].split(":", 1)
            headers.append("< %s:%s" % (name.lower(), value))
            continue
        if headers:
            out.extend(sorted(headers))
            headers = []
        # The status line starts the response headers; the bare "<" line ends them.
        in_response_headers = line.startswith("< ") and line[2:5].isdigit() and " " in line[2:]
        out.append(line)
    out.extend(sorted(headers))
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
