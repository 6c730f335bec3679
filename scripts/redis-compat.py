#!/usr/bin/env python3
"""Runs the Redis compatibility scripts (kv-store/tests/redis_compat/*.txt, format in FORMAT.md
there) against a server and prints every reply that differs from the expected one.

Usage: python3 scripts/redis-compat.py [--write] HOST:PORT [FILE...]

--write rewrites the expected line of every command in the given files from the server's
actual reply (a missing expected line is inserted; a `:~N` line is kept while the actual value
is within its range), to generate the expected replies from a real redis-server.
Exit status: 0 if every reply matched (or --write), 1 on any mismatch, 2 on a usage, file or
connection error."""
import glob
import os
import re
import socket
import sys
import time

TIMEOUT = 5.0
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kv-store", "tests",
                           "redis_compat")
COMMAND = re.compile(r"^(?:@([1-9]) ?)?(sorted|ignore)?> ?(.*)$")
ESCAPES = {"\\": b"\\", '"': b'"', "r": b"\r", "n": b"\n", "t": b"\t"}


class Timeout(Exception):
    pass


def split_args(text):
    """Splits a command line into byte-string arguments (FORMAT.md: spaces, "quoted" escapes)."""
    args, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
        elif text[i] == '"':
            arg, i = bytearray(), i + 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\":
                    c = text[i + 1]
                    if c == "x":
                        arg.append(int(text[i + 2:i + 4], 16))
                        i += 4
                        continue
                    if c not in ESCAPES:
                        raise ValueError(f"unknown escape \\{c}")
                    arg += ESCAPES[c]
                    i += 2
                else:
                    arg += text[i].encode()
                    i += 1
            if i == len(text):
                raise ValueError("unterminated quote")
            args.append(bytes(arg))
            i += 1
        else:
            end = text.find(" ", i)
            end = len(text) if end < 0 else end
            args.append(text[i:end].encode())
            i = end
    return args


def escape(data):
    out = []
    for b in data:
        if b in (0x5C, 0x22):
            out.append("\\" + chr(b))
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


class Connection:
    def __init__(self, host, port):
        try:
            self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        except OSError as e:
            raise OSError(f"cannot connect to {host}:{port}: {e}") from None
        self.buf = b""

    def send(self, args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout() from None
        if not data:
            raise ConnectionError("connection closed by the server")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        """Reads one reply as a tree: (kind, value) where kind is the RESP type byte."""
        line = self._line()
        kind, rest = chr(line[0]), line[1:]
        if kind in "+-:,(":
            return kind, rest.decode("utf-8", "backslashreplace")
        if kind == "#":
            return kind, rest == b"t"
        if kind == "_":
            return kind, None
        n = int(rest)
        if kind in "$=!":
            return (kind, None) if n < 0 else (kind, self._exact(n))
        if kind in "*~>":
            return (kind, None) if n < 0 else (kind, [self.read() for _ in range(n)])
        if kind == "%":
            return kind, [(self.read(), self.read()) for _ in range(n)]
        if kind == "|":  # attribute: metadata before the real reply, dropped
            for _ in range(2 * n):
                self.read()
            return self.read()
        raise ValueError(f"unknown RESP type {line[:20]!r}")


def render(reply, sort=False):
    kind, v = reply
    if kind in "+-:,(":
        return kind + v
    if kind == "#":
        return "#t" if v else "#f"
    if kind == "_":
        return "_"
    if kind in "$!":
        return "$-1" if v is None else ('"' + escape(v) + '"' if kind == "$" else "-" + escape(v))
    if kind == "=":
        return "=" + escape(v)
    if kind == "%":
        items = [render(k) + " => " + render(x) for k, x in v]
        return "{" + ", ".join(sorted(items) if sort else items) + "}"
    if v is None:
        return "*-1"
    items = [render(x) for x in v]
    prefix = {"*": "", "~": "~", ">": ">"}[kind]
    return prefix + "[" + ", ".join(sorted(items) if sort else items) + "]"


def matches(expected, reply, got):
    """Compares an expected line with a reply; `:~N` accepts an integer in N-1000..N."""
    m = re.fullmatch(r":~(-?\d+)", expected)
    if m and reply[0] == ":":
        return int(m.group(1)) - 1000 <= int(reply[1]) <= int(m.group(1))
    return expected == got


def is_reply_line(line):
    return (line[:1] in tuple('+-:"$*[_{~,=(!') or line in ("#t", "#f")
            or line.startswith(">["))


def parse(path, write):
    """Reads a script into steps: (line index, "sleep", ms) or (line index, conn, mode, text,
    args, expected line or None), checking the whole file before anything is sent."""
    with open(path) as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    steps, i = [], 0
    while i < len(lines):
        line, i = lines[i], i + 1
        m = COMMAND.match(line)
        if not line.strip() or line.startswith("#"):
            continue
        if re.fullmatch(r"sleep \d+", line):
            steps.append((i - 1, "sleep", int(line.split()[1])))
            continue
        if not m:
            raise ValueError(f"{path}:{i}: neither a command, a comment nor sleep: {line}")
        try:
            args = split_args(m.group(3))
        except (ValueError, IndexError) as e:
            raise ValueError(f"{path}:{i}: bad argument: {e}") from None
        expected = None
        if m.group(2) != "ignore":
            if i < len(lines) and is_reply_line(lines[i]):
                expected, i = lines[i], i + 1
                # Our own reply, where it differs from Redis's on purpose: not Redis's to check.
                while i < len(lines) and lines[i].startswith("ours: "):
                    i += 1
            elif not write:
                raise ValueError(f"{path}:{i}: no expected reply after the command")
        steps.append((i - 1 - (expected is not None), int(m.group(1) or 1), m.group(2),
                      m.group(3), args, expected))
    return lines, steps


def run_script(path, host, port, write, stats):
    """Runs one script; returns its lines with the expected replies as the server gave them."""
    lines, steps = parse(path, write)
    flusher = Connection(host, port)
    try:
        flusher.send([b"FLUSHALL"])
        if render(flusher.read()) != "+OK":
            raise ValueError(f"{path}: FLUSHALL before the script failed")
    except Timeout:
        raise ValueError(f"{path}: no reply to FLUSHALL within {TIMEOUT:g} s") from None
    finally:
        flusher.sock.close()
    new_expected, conns = {}, {}  # command line index -> expected line to write after it
    try:
        for step in steps:
            if step[1] == "sleep":
                time.sleep(step[2] / 1000)
                continue
            index, conn_no, mode, text, args, expected = step
            if conn_no not in conns:
                conns[conn_no] = Connection(host, port)
            stats["commands"] += 1
            conns[conn_no].send(args)
            try:
                reply = conns[conn_no].read()
            except (Timeout, ConnectionError) as e:
                stats["failures"] += 1
                why = f"no reply within {TIMEOUT:g} s" if isinstance(e, Timeout) else str(e)
                print(f"{path}:{index + 1}: sent {text}, expected {expected}, got {why}; "
                      "rest of the script skipped")
                break
            if mode == "ignore":
                continue
            got = render(reply, sort=(mode == "sorted"))
            if expected is not None and matches(expected, reply, got):
                continue
            new_expected[index] = got
            if write:
                stats["rewritten"] += 1
            else:
                stats["mismatches"] += 1
                print(f"{path}:{index + 1}: sent {text}, expected {expected}, got {got}")
    finally:
        for c in conns.values():
            c.sock.close()
    out, skip = [], set()
    for index, line in enumerate(lines):
        if index in skip:
            continue
        out.append(line)
        if index in new_expected:
            out.append(new_expected[index])
            if index + 1 < len(lines) and is_reply_line(lines[index + 1]):
                skip.add(index + 1)
    return out


def main(argv):
    write = "--write" in argv
    argv = [a for a in argv if a != "--write"]
    if not argv or ":" not in argv[0]:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = argv[0].rsplit(":", 1)
    files = argv[1:] or sorted(glob.glob(os.path.join(os.path.normpath(DEFAULT_DIR), "*.txt")))
    stats = {"commands": 0, "mismatches": 0, "failures": 0, "rewritten": 0}
    try:
        for path in files:
            out = run_script(path, host, int(port), write, stats)
            if write:
                with open(path, "w") as f:
                    f.write("\n".join(out) + "\n")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bad = stats["mismatches"] + stats["failures"]
    print(f"{len(files)} scripts, {stats['commands']} commands, {bad} mismatches"
          + (f" ({stats['rewritten']} expected lines rewritten)" if write else ""))
    return 1 if stats["failures"] or (stats["mismatches"] and not write) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
