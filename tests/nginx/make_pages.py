#!/usr/bin/python3
"""Recorded Graph pages for tests/nginx/run.sh, from the emulator's own site generator.

    make_pages.py DIR ORIGIN SITES PAGE_SIZE

Writes DIR/length/pN.json (nextLink with the literal ORIGIN: nginx serves them with Content-Length)
and DIR/chunked/pN.json (nextLink with the placeholder __ORIGIN__, which nginx's sub_filter replaces
on the fly, so it must send them chunked) for every page N; odd pages are served from length/, even
pages from chunked/ (nginx.conf decides). Also DIR/expected.tsv and DIR/expected.jsonl, the exact
output of `spo sites` and `spo sites --json`.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "emulator"))
import emulator  # noqa: E402

FIELDS = ("id", "displayName", "webUrl")     # what spo's $select asks for, in Graph's order


def main():
    out, origin, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    host = emulator.DEFAULTS["sp_host"]
    seed = 7
    for sub in ("length", "chunked"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    pages = max(1, (n + size - 1) // size)
    ctx = '"@odata.context":"%s/v1.0/$metadata#sites(id,displayName,webUrl)"'
    for p in range(1, pages + 1):
        items = [emulator.make_site(seed, i, host) for i in range((p - 1) * size, min(n, p * size))]
        value = '"value":[' + ",".join(emulator.site_json(s, FIELDS, False) for s in items) + "]"
        for sub, o in (("length", origin), ("chunked", "__ORIGIN__")):
            members = [ctx % o]
            if p < pages:
                link = "%s/v1.0/sites?$select=id,displayName,webUrl&$skiptoken=p%d" % (o, p + 1)
                members.append('"@odata.nextLink":%s' % json.dumps(link))
            members.append(value)
            with open(os.path.join(out, sub, "p%d.json" % p), "w", encoding="utf-8") as f:
                f.write("{" + ",".join(members) + "}")
    emulator.dump_sites(os.path.join(out, "expected.jsonl"), n, seed, host)
    os.replace(os.path.join(out, "expected.jsonl.tsv"), os.path.join(out, "expected.tsv"))
    print(pages)


if __name__ == "__main__":
    main()
