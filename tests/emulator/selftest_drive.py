#!/usr/bin/env python3
"""Self-test of the emulator's document libraries, uploads, downloads and lists (drive.py).

Standard library only. Starts the emulator like tests/e2e/run.py does (test PKI from tests/pki.sh,
--port 0, READY <port>) and talks to it with http.client over TLS, verifying against the test CA.
Usage: tests/emulator/selftest_drive.py [--pki DIR] [-k SUBSTRING] [-v]
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import drive  # noqa: E402

VECTORS = os.path.join(TOP, "..", "shared", "fixtures", "quickxorhash", "vectors.tsv")
SECRET = "Xq8Q~fT3.kL_9zR-eP+wN/uY=bD4mG6hJ2sV7cA1"
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
CLIENT = "535fb089-9ff3-47b6-9bfb-4f1264799865"
UNIT = 320 * 1024
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


class Emu:
    def __init__(self, pki, args=()):
        self.log = tempfile.TemporaryFile()
        cmd = [sys.executable, os.path.join(HERE, "emulator.py"), "--cert", os.path.join(pki, "chain.pem"),
               "--key", os.path.join(pki, "server.key"), "--port", "0", "--log"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            self.log.seek(0)
            raise RuntimeError("emulator did not start: %r %s" % (line, self.log.read()[-2000:]))
        self.port = int(line.split()[1])
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        self.sp_port = self.api("GET", "/_emulator/stats")[1]["sp_port"]
        self.token = self.get_token()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def conn(self, port=None):
        return http.client.HTTPSConnection("localhost", port or self.port, context=self.ctx, timeout=60)

    def raw(self, method, url, body=None, headers=None, port=None, conn=None):
        """(status, headers dict lower-case, body bytes); url may be absolute."""
        if url.startswith("https://"):
            u = urllib.parse.urlsplit(url)
            port = u.port
            url = u.path + ("?" + u.query if u.query else "")
        c = conn or self.conn(port)
        try:
            c.request(method, url, body, headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if conn is None:
                c.close()

    def api(self, method, path, body=None):
        st, _, data = self.raw(method, path, json.dumps(body) if body is not None else None,
                               {"Content-Type": "application/json"})
        return st, json.loads(data)

    def config(self, **kw):
        st, _ = self.api("POST", "/_emulator/config", kw)
        assert st == 200, st

    def stats(self):
        return self.api("GET", "/_emulator/stats")[1]

    def get_token(self):
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT,
                                       "client_secret": SECRET, "scope": "https://graph.microsoft.com/.default"})
        st, _, data = self.raw("POST", "/%s/oauth2/v2.0/token" % TENANT, form,
                               {"Content-Type": "application/x-www-form-urlencoded"})
        assert st == 200, data
        return json.loads(data)["access_token"]

    def g(self, method, path, body=None, headers=None, conn=None):
        h = {"Authorization": "Bearer " + self.token}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        st, hd, data = self.raw(method, path, body, h, conn=conn)
        obj = None
        if data and hd.get("content-type", "").startswith("application/json"):
            obj = json.loads(data)
        return st, hd, obj if obj is not None else data


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


# --------------------------------------------------------------------------------------------------
@case
def quickxorhash_vectors(e):
    n = 0
    with open(VECTORS) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            size, data, want = line.rstrip("\n").split("\t")
            raw = base64.b64decode(data)
            eq(len(raw), int(size), "vector length")
            for split in (None, 1, 7, 159, 160, 161):
                q = drive.QuickXor()
                if split is None:
                    q.update(raw)
                else:
                    for i in range(0, len(raw), split):
                        q.update(raw[i:i + split])
                eq(q.b64(), want, "vector %s split %s" % (size, split))
            n += 1
    eq(n, 70, "vector count")
    # long input: streamed in odd pieces == one piece, and differs from a one-byte change
    big = hashlib.sha256(b"x").digest() * 40000
    a, b = drive.QuickXor(), drive.QuickXor()
    a.update(big)
    for i in range(0, len(big), 99991):
        b.update(big[i:i + 99991])
    eq(a.b64(), b.b64(), "streamed long input")
    c = drive.QuickXor()
    c.update(big[:-1] + b"\0")
    assert c.b64() != a.b64()


ROOT = "/v1.0/sites/contoso.sharepoint.com"


def site_ids(e):
    st, _, obj = e.g("GET", "/v1.0/sites?$top=20")
    eq(st, 200)
    return obj["value"]


@case
def sites_by_id_and_path(e):
    sites = site_ids(e)
    s5 = sites[5]
    st, _, obj = e.g("GET", "/v1.0/sites/" + s5["id"])
    eq(st, 200, "by id")
    eq(obj["id"], s5["id"])
    eq(obj["webUrl"], s5["webUrl"])
    st, _, obj2 = e.g("GET", "/v1.0/sites/" + urllib.parse.quote(s5["id"], safe=""))
    eq(obj2["id"], s5["id"], "encoded commas")
    path = urllib.parse.urlsplit(s5["webUrl"]).path
    for form in ("%s:%s", "%s:%s:"):
        st, _, obj = e.g("GET", form % (ROOT, path))
        eq(st, 200, form)
        eq(obj["id"], s5["id"], form)
    st, _, obj = e.g("GET", ROOT)
    eq(obj["id"], sites[0]["id"], "host alone = root site")
    st, _, obj = e.g("GET", "/v1.0/sites/root")
    eq(obj["id"], sites[0]["id"], "root")
    st, _, obj = e.g("GET", ROOT + ":/sites/NoSuchSite")
    eq(st, 404)
    eq(obj["error"]["code"], "itemNotFound")
    st, _, obj = e.g("GET", "/v1.0/sites/contoso.sharepoint.com,00000000-0000-0000-0000-000000000000,"
                            "00000000-0000-0000-0000-000000000000")
    eq(st, 404)
    st, _, obj = e.g("GET", ROOT + ":%s:/drive" % path)
    eq(st, 200, "path form then /drive")
    eq(obj["name"], "Documents")
    # a site whose path has a percent-encoded character
    for s in site_ids(e):
        if "%" in urllib.parse.urlsplit(s["webUrl"]).path:
            st, _, obj = e.g("GET", "%s:%s" % (ROOT, urllib.parse.urlsplit(s["webUrl"]).path))
            eq(st, 200, "encoded path")
            eq(obj["id"], s["id"])
            break
    st, _, _ = e.g("GET", "/v1.0/sites/x", headers={"Authorization": "Bearer nope"})
    eq(st, 401, "bearer still checked")


@case
def drives_and_items(e):
    sid = site_ids(e)[3]["id"]
    st, _, d = e.g("GET", "/v1.0/sites/%s/drive" % sid)
    eq(st, 200)
    eq(d["name"], "Documents")
    eq(d["driveType"], "documentLibrary")
    assert d["id"].startswith("b!") and len(d["id"]) == 66, d["id"]
    st, _, ds = e.g("GET", "/v1.0/sites/%s/drives" % sid)
    eq([x["name"] for x in ds["value"]], ["Documents", "Reports"])
    eq(ds["value"][0]["id"], d["id"])
    st, _, d2 = e.g("GET", "/v1.0/drives/" + d["id"])
    eq(d2["id"], d["id"])
    st, _, it = e.g("GET", "/v1.0/drives/%s/root:/telemetry/readme.txt:" % d["id"])
    eq(st, 200)
    eq(it["name"], "readme.txt")
    eq(it["size"], len(b"Telemetry uploads land here.\n"))
    q = drive.QuickXor()
    q.update(b"Telemetry uploads land here.\n")
    eq(it["file"]["hashes"]["quickXorHash"], q.b64())
    eq(it["parentReference"]["path"], "/drives/%s/root:/telemetry" % d["id"])
    for k in ("id", "eTag", "cTag", "lastModifiedDateTime", "parentReference"):
        assert k in it, k
    st, _, it2 = e.g("GET", "/v1.0/sites/%s/drive/root:/telemetry/readme.txt" % sid)
    eq(it2["id"], it["id"], "site form, no trailing colon")
    st, _, it3 = e.g("GET", "/v1.0/drives/%s/items/%s" % (d["id"], it["id"]))
    eq(it3["name"], "readme.txt", "by id")
    st, _, it4 = e.g("GET", "/v1.0/drives/%s/root:/%s:" % (d["id"], urllib.parse.quote("Caf\u00e9 \u2615 notes.txt")))
    eq(st, 200, "unicode name")
    st, _, it5 = e.g("GET", "/v1.0/drives/%s/root:/%s:" % (d["id"], urllib.parse.quote("100% done #1 & more.txt")))
    eq(st, 200, "percent name")
    st, _, root = e.g("GET", "/v1.0/drives/%s/root" % d["id"])
    eq(root["folder"]["childCount"], 7)
    assert "root" in root
    st, _, err = e.g("GET", "/v1.0/drives/%s/root:/nope/x.txt:" % d["id"])
    eq(st, 404)
    eq(err["error"]["code"], "itemNotFound")
    st, _, err = e.g("GET", "/v1.0/drives/b!AAAA/root")
    eq(st, 404)


@case
def children_paging(e):
    sid = site_ids(e)[2]["id"]
    st, _, page = e.g("GET", "/v1.0/sites/%s/drive/root/children" % sid)
    eq(st, 200)
    names = [c["name"] for c in page["value"]]
    assert "bulk" in names and "Welcome.txt" in names, names
    assert "@odata.nextLink" not in page
    folder = [c for c in page["value"] if c["name"] == "bulk"][0]
    eq(folder["folder"]["childCount"], 250)
    f = [c for c in page["value"] if "file" in c][0]
    assert f["file"]["hashes"]["quickXorHash"] and f["file"]["mimeType"]
    got, url, pages = [], "/v1.0/sites/%s/drive/root:/bulk:/children" % sid, 0
    while url:
        st, _, page = e.g("GET", url)
        eq(st, 200, url)
        got += [c["name"] for c in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    eq(pages, 2, "default page size 200")
    eq(got, ["file-%04d.txt" % i for i in range(250)])
    e.config(drive_page_size=100)
    got, url, pages = [], "/v1.0/sites/%s/drive/root:/bulk:/children?$top=60&$select=name,size" % sid, 0
    while url:
        st, _, page = e.g("GET", url)
        got += [c["name"] for c in page["value"]]
        for c in page["value"]:
            eq(sorted(c), ["name", "size"], "$select")
        url = page.get("@odata.nextLink")
        if url:
            assert "$top=60" in url and "$skiptoken=" in url and url.startswith("https://localhost:"), url
        pages += 1
    eq(pages, 5, "$top=60")
    eq(len(got), 250)
    st, _, page = e.g("GET", "/v1.0/sites/%s/drive/root:/bulk:/children" % sid)
    eq(len(page["value"]), 100, "drive_page_size")
    st, _, err = e.g("GET", "/v1.0/sites/%s/drive/root:/bulk:/children?$skiptoken=garbage" % sid)
    eq(st, 400)
    e.config(bulk_children=1000)
    st, _, page = e.g("GET", "/v1.0/sites/%s/drive/root:/bulk:/children" % site_ids(e)[9]["id"])
    eq(len(page["value"]), 100)
    eq(page["value"][0]["parentReference"]["path"].endswith("root:/bulk"), True)
    e.config(drive_page_size=200, bulk_children=250)


@case
def create_folder(e):
    sid = site_ids(e)[4]["id"]
    base = "/v1.0/sites/%s/drive/root/children" % sid
    st, _, it = e.g("POST", base, {"name": "New Folder", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"})
    eq(st, 201)
    eq(it["name"], "New Folder")
    eq(it["folder"]["childCount"], 0)
    st, _, err = e.g("POST", base, {"name": "new folder", "folder": {}})
    eq(st, 409, "default fail, case-insensitive")
    eq(err["error"]["code"], "nameAlreadyExists")
    st, _, it2 = e.g("POST", base, {"name": "New Folder", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"})
    eq(st, 201)
    eq(it2["name"], "New Folder 1")
    st, _, it3 = e.g("POST", base, {"name": "New Folder", "folder": {}, "@microsoft.graph.conflictBehavior": "replace"})
    eq(st, 201)
    eq(it3["id"], it["id"], "replace keeps the folder")
    st, _, sub = e.g("POST", "/v1.0/sites/%s/drive/root:/New%%20Folder:/children" % sid, {"name": "sub", "folder": {}})
    eq(st, 201)
    eq(sub["parentReference"]["path"], "/drives/%s/root:/New Folder" % sub["parentReference"]["driveId"])
    st, _, err = e.g("POST", base, {"name": "bad:name", "folder": {}})
    eq(st, 400)
    e.config(name_conflict="once")
    st, _, err = e.g("POST", base, {"name": "Fresh", "folder": {}})
    eq(st, 409, "name_conflict fault")
    st, _, _ = e.g("POST", base, {"name": "Fresh", "folder": {}})
    eq(st, 201, "fault was once")
    e.config(name_conflict=None)
    eq(e.stats()["folders_created"], 4)


@case
def simple_put(e):
    sid = site_ids(e)[6]["id"]
    url = "/v1.0/sites/%s/drive/root:/uploads/day%%201/data.json:/content" % sid
    body = '{"t":"caf\u00e9"}'.encode()
    st, _, it = e.g("PUT", url, body, {"Content-Type": "application/json"})
    eq(st, 201, "new")
    q = drive.QuickXor()
    q.update(body)
    eq(it["file"]["hashes"]["quickXorHash"], q.b64())
    eq(it["size"], len(body))
    eq(it["parentReference"]["path"], "/drives/%s/root:/uploads/day 1" % it["parentReference"]["driveId"])
    st, _, it2 = e.g("PUT", url, b"replaced")
    eq(st, 200, "replace is the default")
    eq(it2["id"], it["id"])
    eq(it2["size"], 8)
    st, _, err = e.g("PUT", url + "?@microsoft.graph.conflictBehavior=fail", b"x")
    eq(st, 409)
    eq(err["error"]["code"], "nameAlreadyExists")
    st, _, it3 = e.g("PUT", url + "?%40microsoft.graph.conflictBehavior=rename", b"x")
    eq(st, 201)
    eq(it3["name"], "data 1.json")
    st, _, it4 = e.g("PUT", "/v1.0/drives/%s/items/%s/content" % (it["parentReference"]["driveId"], it["id"]), b"by id")
    eq(st, 200)
    eq(it4["size"], 5)
    # 4 MiB is fine, one more byte is not (and the connection stays usable after the 413)
    c = e.conn()
    big = os.urandom(4 * 1024 * 1024)
    st, _, it5 = e.g("PUT", "/v1.0/sites/%s/drive/root:/big.bin:/content" % sid, big, conn=c)
    eq(st, 201)
    q = drive.QuickXor()
    q.update(big)
    eq(it5["file"]["hashes"]["quickXorHash"], q.b64())
    st, _, err = e.g("PUT", "/v1.0/sites/%s/drive/root:/big2.bin:/content" % sid, big + b"x", conn=c)
    eq(st, 413)
    eq(err["error"]["code"], "maxFileSizeExceeded")
    st, _, _ = e.g("GET", "/v1.0/sites/%s/drive" % sid, conn=c)
    eq(st, 200, "keep-alive after a refused body")
    c.close()
    e.config(bad_hash="once")
    st, _, it6 = e.g("PUT", "/v1.0/sites/%s/drive/root:/h.txt:/content" % sid, b"hash me")
    q = drive.QuickXor()
    q.update(b"hash me")
    assert it6["file"]["hashes"]["quickXorHash"] != q.b64(), "bad_hash"
    e.config(bad_hash=None, upload_throttle="once", retry_after="2")
    st, hd, err = e.g("PUT", "/v1.0/sites/%s/drive/root:/t.txt:/content" % sid, b"t")
    eq(st, 429)
    eq(hd.get("retry-after"), "2")
    st, _, _ = e.g("PUT", "/v1.0/sites/%s/drive/root:/t.txt:/content" % sid, b"t")
    eq(st, 201)
    e.config(upload_throttle=None, retry_after="1")
    s = e.stats()
    eq(s["simple_puts"], 7)
    eq(s["bytes_committed"], len(body) + 8 + 1 + 5 + len(big) + 7 + 1)



def new_session(e, sid, path, behaviour="fail", expect=200):
    st, _, s = e.g("POST", "/v1.0/sites/%s/drive/root:/%s:/createUploadSession" % (sid, path),
                   {"item": {"@microsoft.graph.conflictBehavior": behaviour}})
    eq(st, expect, "createUploadSession %s" % path)
    return s


def put_frag(e, url, data, a, total, headers=None, conn=None):
    h = {"Content-Range": "bytes %d-%d/%d" % (a, a + len(data) - 1, total)}
    h.update(headers or {})
    st, hd, body = e.raw("PUT", url, data, h, conn=conn)
    obj = json.loads(body) if body and hd.get("content-type", "").startswith("application/json") else body
    return st, hd, obj


@case
def upload_session(e):
    sid = site_ids(e)[7]["id"]
    data = os.urandom(3 * UNIT + 1234)
    s = new_session(e, sid, "big/dump.bin")
    eq(s["nextExpectedRanges"], ["0-"])
    assert s["expirationDateTime"].endswith("Z")
    u = urllib.parse.urlsplit(s["uploadUrl"])
    eq((u.hostname, u.port), ("localhost", e.sp_port), "uploadUrl on the SharePoint port")
    assert "tempauth=" in u.query and u.path.endswith("/uploadSession")
    url = s["uploadUrl"]
    c = e.conn(e.sp_port)
    st, _, r = put_frag(e, url, data[:UNIT], 0, len(data), conn=c)
    eq(st, 202)
    eq(r["nextExpectedRanges"], ["%d-" % UNIT])
    st, _, r = put_frag(e, url, data[:UNIT], 0, len(data), conn=c)
    eq(st, 416, "overlap")
    eq(r["error"]["code"], "invalidRange")
    st, _, r = put_frag(e, url, data[2 * UNIT:3 * UNIT], 2 * UNIT, len(data), conn=c)
    eq(st, 416, "gap")
    st, _, r = put_frag(e, url, data[UNIT:2 * UNIT - 1], UNIT, len(data), conn=c)
    eq(st, 400, "not a multiple of 320 KiB")
    st, _, r = put_frag(e, url, data[UNIT:2 * UNIT], UNIT, len(data) + 1, conn=c)
    eq(st, 400, "total changed")
    assert "total" in r["error"]["message"]
    st, _, r = e.raw("PUT", url, data[UNIT:2 * UNIT], {"Content-Range": "bytes 1-2"}, conn=c)
    eq(st, 400, "bad Content-Range")
    st, _, r = put_frag(e, url, data[UNIT:2 * UNIT], UNIT, len(data), {"Authorization": "Bearer " + e.token}, conn=c)
    eq(st, 401, "Authorization refused on the SharePoint host")
    st, _, r = e.raw("GET", url, conn=c)
    eq(st, 200)
    eq(json.loads(r)["nextExpectedRanges"], ["%d-" % UNIT], "status")
    st, _, r = put_frag(e, url, data[UNIT:3 * UNIT], UNIT, len(data), conn=c)
    eq(st, 202)
    st, _, it = put_frag(e, url, data[3 * UNIT:], 3 * UNIT, len(data), conn=c)
    eq(st, 201, "final")
    q = drive.QuickXor()
    q.update(data)
    eq(it["file"]["hashes"]["quickXorHash"], q.b64())
    eq(it["size"], len(data))
    eq(it["name"], "dump.bin")
    assert "@content.downloadUrl" in it
    st, _, r = put_frag(e, url, data[:UNIT], 0, len(data), conn=c)
    eq(st, 404, "session gone after completion")
    eq(r["error"]["code"], "itemNotFound")
    c.close()
    st, _, it2 = e.g("GET", "/v1.0/sites/%s/drive/root:/big/dump.bin:" % sid)
    eq(it2["file"]["hashes"]["quickXorHash"], q.b64())
    new_session(e, sid, "big/dump.bin", "fail", expect=409)
    s2 = new_session(e, sid, "big/dump.bin", "replace")
    st, _, it3 = put_frag(e, s2["uploadUrl"], b"tiny", 0, 4)
    eq(st, 200, "replaced")
    eq(it3["id"], it["id"])
    s3 = new_session(e, sid, "big/dump.bin", "rename")
    st, _, it4 = put_frag(e, s3["uploadUrl"], b"tiny", 0, 4)
    eq(st, 201)
    eq(it4["name"], "dump 1.bin")
    # conflict found at the end: the session stays (all bytes there)
    s4 = new_session(e, sid, "late.txt", "fail")
    st, _, _ = e.g("PUT", "/v1.0/sites/%s/drive/root:/late.txt:/content" % sid, b"first")
    st, _, r = put_frag(e, s4["uploadUrl"], b"second", 0, 6)
    eq(st, 409)
    eq(r["error"]["code"], "nameAlreadyExists")
    s5 = new_session(e, sid, "cancel.bin")
    st, _, _ = e.raw("DELETE", s5["uploadUrl"])
    eq(st, 204)
    st, _, r = e.raw("GET", s5["uploadUrl"])
    eq(st, 404)
    st = e.stats()
    eq(st["upload_sessions_created"], 5)
    eq(st["upload_sessions_completed"], 3)
    eq(st["upload_sessions_deleted"], 1)
    eq(st["fragments_with_authorization"], 1)
    eq(st["authorization_seen_on_sp_host"], 1)
    eq(st["upload_fragments"], 13)
    eq(st["upload_fragment_sizes"][:2], [UNIT, UNIT])
    eq(st["bytes_committed"], len(data) + 4 + 4 + 5)


@case
def upload_faults(e):
    sid = site_ids(e)[8]["id"]
    data = os.urandom(2 * UNIT + 10)
    s = new_session(e, sid, "f.bin")
    url = s["uploadUrl"]
    e.config(drop_fragment="once")
    e.config(drop_fragment="once")     # a config POST re-arms: still exactly one drop
    try:
        put_frag(e, url, data[:UNIT], 0, len(data))
        raise AssertionError("drop_fragment: connection should have been closed")
    except (http.client.HTTPException, OSError):
        pass
    st, _, r = e.raw("GET", url)
    eq(json.loads(r)["nextExpectedRanges"], ["0-"], "dropped bytes not committed")
    eq(put_frag(e, url, data[:UNIT], 0, len(data))[0], 202)
    e.config(drop_fragment=None, fragment_416="once")
    eq(put_frag(e, url, data[UNIT:2 * UNIT], UNIT, len(data))[0], 416)
    e.config(fragment_416=None, upload_throttle="once", upload_throttle_status=503, retry_after="3")
    st, hd, r = put_frag(e, url, data[UNIT:2 * UNIT], UNIT, len(data))
    eq((st, hd.get("retry-after")), (503, "3"))
    e.config(upload_throttle=None, bad_hash="every 1")
    eq(put_frag(e, url, data[UNIT:2 * UNIT], UNIT, len(data))[0], 202)
    st, _, it = put_frag(e, url, data[2 * UNIT:], 2 * UNIT, len(data))
    eq(st, 201)
    q = drive.QuickXor()
    q.update(data)
    assert it["file"]["hashes"]["quickXorHash"] != q.b64(), "bad_hash"
    e.config(bad_hash=None, expire_session="once")
    s = new_session(e, sid, "g.bin")
    st, _, r = put_frag(e, s["uploadUrl"], b"x", 0, 1)
    eq(st, 404, "expire_session")
    eq(r["error"]["code"], "itemNotFound")
    st, _, r = e.raw("GET", s["uploadUrl"])
    eq(st, 404, "stays expired")
    e.config(expire_session=None, name_conflict="once")
    new_session(e, sid, "h.bin", expect=409)
    e.config(name_conflict=None, session_ttl=0)
    s = new_session(e, sid, "i.bin")
    eq(put_frag(e, s["uploadUrl"], b"x", 0, 1)[0], 404, "ttl expiry")
    st = e.stats()
    for k in ("drop_fragment", "fragment_416", "upload_throttle", "bad_hash", "expire_session", "name_conflict"):
        eq(st["faults"].get(k), 1, k)


@case
def large_session_on_disk(e):
    """50 MiB in 10 fragments of 5 MiB: stored on disk, hash and sha256 right, emulator RSS stays small."""
    sid = site_ids(e)[10]["id"]
    total = 50 * 1024 * 1024
    frag = 16 * UNIT
    s = new_session(e, sid, "fifty.bin")
    c = e.conn(e.sp_port)
    q, sha = drive.QuickXor(), hashlib.sha256()
    a = 0
    while a < total:
        piece = hashlib.sha256(b"%d" % a).digest() * (min(frag, total - a) // 32)
        piece += b"z" * (min(frag, total - a) - len(piece))
        q.update(piece)
        sha.update(piece)
        st, _, r = put_frag(e, s["uploadUrl"], piece, a, total, conn=c)
        a += len(piece)
        eq(st, 202 if a < total else 201, "fragment at %d" % a)
    c.close()
    eq(r["file"]["hashes"]["quickXorHash"], q.b64())
    with open("/proc/%d/status" % e.proc.pid) as f:
        rss = [int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")][0]
    assert rss < 45 * 1024, "emulator peak RSS %d KiB: file bytes held in memory?" % rss
    e._sha = sha.hexdigest()
    e._fifty = (sid, q.b64(), sha.hexdigest(), total)


@case
def downloads(e):
    sid = site_ids(e)[11]["id"]
    data = os.urandom(3 * 1024 * 1024 + 17)
    st, _, it = e.g("PUT", "/v1.0/sites/%s/drive/root:/dl/x.bin:/content" % sid, data)
    eq(st, 201)
    did = it["parentReference"]["driveId"]
    for path in ("/v1.0/sites/%s/drive/root:/dl/x.bin:/content" % sid,
                 "/v1.0/drives/%s/items/%s/content" % (did, it["id"])):
        st, hd, body = e.g("GET", path)
        eq(st, 302, path)
        loc = urllib.parse.urlsplit(hd["location"])
        eq((loc.hostname, loc.port), ("localhost", e.sp_port))
        assert "tempauth=" in loc.query
    url = hd["location"]
    st, hd, body = e.raw("GET", url)
    eq(st, 200)
    eq(body, data)
    eq(hd["content-length"], str(len(data)))
    st, hd, body = e.raw("GET", url, headers={"Range": "bytes=1000-"})
    eq(st, 206)
    eq(body, data[1000:])
    eq(hd["content-range"], "bytes 1000-%d/%d" % (len(data) - 1, len(data)))
    st, hd, body = e.raw("GET", url, headers={"Range": "bytes=5-9"})
    eq((st, body, hd["content-range"]), (206, data[5:10], "bytes 5-9/%d" % len(data)))
    st, hd, body = e.raw("GET", url, headers={"Range": "bytes=%d-" % len(data)})
    eq(st, 416, "range beyond the end")
    eq(hd["content-range"], "bytes */%d" % len(data))
    st, hd, body = e.raw("GET", url, headers={"Range": "bytes=9-5"})
    eq(st, 416)
    st, _, _ = e.raw("GET", url, headers={"Authorization": "Bearer " + e.token})
    eq(st, 401, "Authorization on the download host")
    e.config(drop_download="once", drop_download_bytes=100000)
    c = e.conn(loc.port)
    c.request("GET", loc.path + "?" + loc.query)
    r = c.getresponse()
    try:
        got = r.read()
        raise AssertionError("drop_download: read %d bytes without error" % len(got))
    except http.client.IncompleteRead as ex:
        eq(len(ex.partial), 100000, "bytes before the drop")
    c.close()
    st, _, body = e.raw("GET", url)
    eq(body, data, "once only")
    st, _, err = e.g("GET", "/v1.0/sites/%s/drive/root:/dl:/content" % sid)
    eq(st, 400, "folder content")
    st = e.stats()
    eq(st["downloads"], 5)
    eq(st["ranged_downloads"], 4)
    eq(st["download_redirects"], 2)
    eq(st["authorization_seen_on_sp_host"], 1)

# --------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pki", help="PKI folder made by tests/pki.sh (made in a temporary folder if absent)")
    ap.add_argument("-k", help="run only cases whose name contains this")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="selftest-drive-")
    pki = args.pki or os.path.join(tmp, "pki")
    if not os.path.exists(os.path.join(pki, "ca.pem")):
        subprocess.run(["bash", os.path.join(TOP, "tests", "pki.sh"), pki], check=True,
                       stdout=subprocess.DEVNULL)
    failed = 0
    for fn in CASES:
        if args.k and args.k not in fn.__name__:
            continue
        e = Emu(pki)
        t0 = time.monotonic()
        try:
            fn(e)
            print("ok %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
        except Exception:       # noqa: BLE001 (report and go on)
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
            if args.v:
                e.log.seek(0)
                sys.stdout.write(e.log.read()[-4000:].decode("utf-8", "replace"))
        finally:
            e.stop()
    print("FAILED %d" % failed if failed else "ALL OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
