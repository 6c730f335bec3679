#!/usr/bin/env python3
"""Regenerates kv-store/src/server/commands/docs.resp, the data our server answers COMMAND DOCS with.

Usage: python3 scripts/command-docs.py HOST:PORT   (a redis-server 7.0.15, e.g. 127.0.0.1:6399)

The output is Redis's documentation metadata (summaries, complexities, history, arguments),
BSD-3-Clause, copied from Redis 7.0.15's COMMAND DOCS reply: one RESP3 map, byte-exact (CRLF
line ends; see .gitattributes), from command name to its docs, sorted by name. It holds the
commands of our command table (table.rs) that Redis knows; of a container command's
subcommands it keeps only those listed in SUBCOMMANDS below. Every value keeps the RESP3 type
Redis sent it as (bulk strings, simple strings, sets, ...). Standard library only."""
import os
import re
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "..", "kv-store", "src", "server", "commands", "table.rs")
OUT = os.path.join(HERE, "..", "kv-store", "src", "server", "commands", "docs.resp")

# The subcommands we implement of each container command; the containers are fetched even if
# table.rs does not list them (yet).
SUBCOMMANDS = {
    "client": ["id", "getname", "setname", "setinfo", "info", "list", "kill", "help"],
    "config": ["get", "set", "resetstat", "rewrite", "help"],
    "command": ["count", "list", "info", "docs", "help"],
    "cluster": ["slots", "shards", "nodes", "info", "myid", "keyslot", "help"],
}
# Our own commands, which Redis does not know.
EXTENSIONS = {"cas", "scanprefix", "xregister", "xsession"}

# A RESP3 value is (type byte, payload): bytes for line and blob types, None for a null, a
# list of values for arrays, sets and pushes, a list of (key, value) pairs for maps/attributes.
LINE = b"+-:_,#("  # simple string, error, integer, null, double, boolean, big number
BLOB = b"$=!"  # bulk string, verbatim string, blob error
AGGREGATES = b"*~>"  # array, set, push
MAPS = b"%|"  # map, attribute


def read(f):
    """Reads one RESP3 value from a binary file object."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ValueError("truncated RESP: %r" % line)
    kind, body = line[:1], line[1:-2]
    if kind in LINE:
        return (kind, body)
    n = int(body)
    if kind in BLOB:
        if n < 0:  # RESP2's null bulk string
            return (kind, None)
        data = f.read(n + 2)
        if len(data) != n + 2 or not data.endswith(b"\r\n"):
            raise ValueError("truncated blob")
        return (kind, data[:-2])
    if kind in AGGREGATES:
        return (kind, None if n < 0 else [read(f) for _ in range(n)])
    if kind in MAPS:
        return (kind, [(read(f), read(f)) for _ in range(n)])
    raise ValueError("unknown RESP type %r" % kind)


def write(value, out):
    """Appends the RESP3 encoding of a value (as read() returns it) to the bytearray out."""
    kind, body = value
    if kind in LINE:
        out += kind + body + b"\r\n"
    elif body is None:
        out += kind + b"-1\r\n"
    elif kind in BLOB:
        out += kind + b"%d\r\n" % len(body) + body + b"\r\n"
    elif kind in AGGREGATES:
        out += kind + b"%d\r\n" % len(body)
        for item in body:
            write(item, out)
    else:
        out += kind + b"%d\r\n" % len(body)
        for k, v in body:
            write(k, out)
            write(v, out)
    return out


def text(value):
    """The text of a string value."""
    return value[1].decode()


def table_names():
    """The command names of table.rs: `c("name", ...` or `c(` with `"name",` on the next line."""
    with open(TABLE) as f:
        return [m.group(1).lower() for m in re.finditer(r'\bc\(\s*"([^"]+)"', f.read())]


def main():
    if len(sys.argv) != 2 or ":" not in sys.argv[1]:
        sys.exit(__doc__)
    host, port = sys.argv[1].rsplit(":", 1)

    names, skipped = [], []
    for name in table_names() + [c for c in SUBCOMMANDS if c not in table_names()]:
        if name in EXTENSIONS or name.startswith("raft."):
            skipped.append(name)
        elif name not in names:
            names.append(name)

    sock = socket.create_connection((host, int(port)), timeout=10)
    f = sock.makefile("rb")

    def call(*args):
        request = b"*%d\r\n" % len(args)
        for a in args:
            request += b"$%d\r\n%s\r\n" % (len(a), a.encode())
        sock.sendall(request)
        reply = read(f)
        if reply[0] in b"-!":
            sys.exit("%s: %s" % (args[0], reply[1].decode()))
        return reply

    call("HELLO", "3")
    raw = call("COMMAND", "DOCS", *names)
    sock.close()
    if raw[0] != b"%":
        sys.exit("COMMAND DOCS did not answer a map (is this a Redis 7 speaking RESP3?)")

    docs = {text(k): (k, v) for k, v in raw[1]}
    skipped += [n for n in names if n not in docs]  # Redis does not know it
    entries = []
    for name in sorted(n for n in names if n in docs):
        key_of_name, doc = docs[name]
        for i, (key, value) in enumerate(doc[1]):
            if text(key) != "subcommands":
                continue
            keep = ["%s|%s" % (name, s) for s in SUBCOMMANDS.get(name, [])]
            if name not in SUBCOMMANDS:
                print("warning: %s has subcommands but none are listed; all kept" % name)
                keep = [text(k) for k, _ in value[1]]
            subs = {text(k): (k, v) for k, v in value[1]}
            missing = [s for s in keep if s not in subs]
            if missing:
                print("note: Redis has no %s" % ", ".join(missing))
            # Redis sends subcommands in hash order; sort them so the file is stable.
            doc[1][i] = (key, (value[0], [subs[s] for s in sorted(keep) if s in subs]))
        entries.append((key_of_name, doc))

    data = bytes(write((b"%", entries), bytearray()))
    with open(OUT, "wb") as out:
        out.write(data)
    # Check: the file reads back to what was written.
    with open(OUT, "rb") as back:
        assert read(back) == (b"%", entries) and back.read() == b""
    print("wrote %d commands (%d bytes) to %s" % (len(entries), len(data), os.path.normpath(OUT)))
    print("skipped: %s" % (", ".join(skipped) or "none"))


if __name__ == "__main__":
    main()
