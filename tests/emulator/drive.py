"""Document libraries, uploads, downloads and lists for the Microsoft emulator (emulator.py).

Graph side (behind the emulator's bearer check and throttling): sites by id or path, drives, driveItems
by path or id, children with paging, folder creation, simple PUT, createUploadSession, GET …/content
(302). SharePoint side: a second TLS listener (--sp-port) serving upload sessions and pre-authenticated
downloads, which refuses any Authorization header. File bytes live in a temporary folder on disk and
are streamed in and out, never held whole in memory. See README.md ("Document libraries").
"""
import atexit
import base64
import hashlib
import hmac
import json
import mimetypes
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import urllib.parse
import uuid

from identity import now      # the emulator's clock (clock_offset_s)

KIB = 1024
FRAGMENT_UNIT = 320 * KIB
IO_PIECE = 1024 * KIB
QUOTA_TOTAL = 27487790694400

# configuration keys added to the emulator's (flags --key-name, runtime POST /_emulator/config)
DEFAULTS = {
    "sp_port": 0,                    # second TLS listener (SharePoint host); 0 = free port; start-up only
    "drive_page_size": 200,          # children per page without $top (Graph's default is 200)
    "drive_max_top": 999,            # larger $top values are clamped to this
    "bulk_children": 250,            # files in the seeded folder "bulk" of each Documents library
    "simple_put_max": 4 * 1024 * KIB,   # larger simple PUT bodies get 413
    "session_ttl": 3600,             # seconds an upload session lives
    "max_fragment": 60 * 1024 * KIB,    # larger fragments get 400 (SharePoint's limit is < 60 MiB)
    # fault switches: null (off), "once" (the next occasion) or "every N" (every Nth occasion)
    "drop_fragment": None,           # close the connection after half (or drop_fragment_bytes) of a fragment body
    "drop_fragment_bytes": None,
    "expire_session": None,          # the session is expired when the next fragment arrives -> 404
    "fragment_416": None,            # the fragment gets 416 invalidRange
    "name_conflict": None,           # createUploadSession / simple PUT / folder create -> 409 nameAlreadyExists
    "bad_hash": None,                # the final driveItem reports a wrong quickXorHash (stored bytes are right)
    "upload_throttle": None,         # fragments and simple PUTs -> upload_throttle_status + Retry-After
    "upload_throttle_status": 429,   # 429 | 503
    "drop_download": None,           # the download answer stops after drop_download_bytes of the body
    "drop_download_bytes": 65536,
}
CHOICES = {"upload_throttle_status": (429, 503)}
FAULTS = ("drop_fragment", "expire_session", "fragment_416", "name_conflict", "bad_hash",
          "upload_throttle", "drop_download")

STATS = {
    "drive_requests": 0, "sp_requests": 0, "sp_status": {},
    "folders_created": 0, "simple_puts": 0, "upload_sessions_created": 0, "upload_sessions_completed": 0,
    "upload_sessions_deleted": 0, "upload_fragments": 0, "upload_fragment_sizes": [],
    "fragments_with_authorization": 0, "fragments_rejected": {}, "bytes_committed": 0,
    "downloads": 0, "ranged_downloads": 0, "download_bytes": 0, "download_redirects": 0,
    "authorization_seen_on_sp_host": 0, "list_items_created": 0,
}

FORBIDDEN_NAME = re.compile(r'["*:<>?/\\|]')
LIST_COLUMNS = {"Title": "text", "Device": "text", "Temperature": "number", "Ok": "boolean", "Note": "text"}


# --------------------------------------------------------------------------------------------------
class QuickXor:
    """quickXorHash, streaming. Byte i lands at bit (11 * i) mod 160 of a 160-bit register, so all bytes
    with the same i mod 160 can be XORed together first: 160-byte blocks are folded with big-integer XOR
    (fast in CPython), and the rotation is applied once per residue at the end."""

    def __init__(self):
        self.acc = 0            # XOR of all complete 160-byte blocks, little-endian
        self.pending = b""      # < 160 bytes not yet folded
        self.length = 0

    def update(self, data):
        self.length += len(data)
        data = self.pending + bytes(data)
        full = len(data) // 160 * 160
        self.pending = data[full:]
        if full:
            self.acc ^= self._fold(data[:full])

    @staticmethod
    def _fold(chunk):
        x = int.from_bytes(chunk, "little")
        blocks = len(chunk) // 160
        while blocks > 1:
            keep = (blocks + 1) // 2
            shift = keep * 1280
            x = (x & ((1 << shift) - 1)) ^ (x >> shift)
            blocks = keep
        return x

    def digest(self):
        acc = self.acc ^ int.from_bytes(self.pending, "little")
        mask = (1 << 160) - 1
        state = 0
        for j in range(160):
            b = (acc >> (8 * j)) & 0xFF
            if b:
                s = (11 * j) % 160
                state ^= ((b << s) | (b >> (160 - s))) & mask
        out = bytearray(state.to_bytes(20, "little"))
        for k, v in enumerate(struct.pack("<Q", self.length)):
            out[12 + k] ^= v
        return bytes(out)

    def b64(self):
        return base64.b64encode(self.digest()).decode()


def file_hashes(path):
    q, s = QuickXor(), hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            piece = f.read(IO_PIECE)
            if not piece:
                break
            q.update(piece)
            s.update(piece)
    return q.b64(), s.hexdigest()


# --------------------------------------------------------------------------------------------------
def iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now()))


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def rename_candidate(name, n):
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return "%s %d" % (name, n)
    return "%s %d.%s" % (stem, n, ext)


class Item:
    __slots__ = ("id", "name", "parent", "children", "size", "created", "modified", "guid", "version",
                 "path", "qxh", "sha256", "mime", "drive")

    def __init__(self, drive, name, parent, folder):
        self.drive = drive
        self.id = "01" + base64.b32encode(os.urandom(20)).decode()[:32]
        self.name = name
        self.parent = parent
        self.children = {} if folder else None
        self.size = 0
        self.created = self.modified = iso_now()
        self.guid = str(uuid.uuid4()).upper()
        self.version = 1
        self.path = self.qxh = self.sha256 = None
        self.mime = None

    def rel_path(self):
        parts = []
        it = self
        while it.parent is not None:
            parts.append(it.name)
            it = it.parent
        return "/".join(reversed(parts))

    def total_size(self):
        if self.children is None:
            return self.size
        return sum(c.total_size() for c in self.children.values())


class Drive:
    def __init__(self, svc, site, index, no):
        self.svc = svc
        self.site = site
        self.index = index
        self.no = no
        self.name = ("Documents", "Reports")[no]
        self.url_name = ("Shared%20Documents", "Reports")[no]
        self.id = svc.drive_id(index, no)
        self.created = site["createdDateTime"]
        self.items = {}
        self.root = self.new_item("root", None, True)

    def new_item(self, name, parent, folder):
        it = Item(self, name, parent, folder)
        self.items[it.id] = it
        if parent is not None:
            parent.children[name.lower()] = it
        return it

    def remove(self, it):
        if it.children:
            for c in list(it.children.values()):
                self.remove(c)
        self.items.pop(it.id, None)
        if it.parent is not None:
            it.parent.children.pop(it.name.lower(), None)
        if it.path:
            try:
                os.unlink(it.path)
            except OSError:
                pass


class NotMine(Exception):
    pass


class GraphFail(Exception):
    def __init__(self, status, code, message, headers=(), inner=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.inner = status, code, message, headers, inner


class Session:
    __slots__ = ("guid", "drive", "parent", "name", "behaviour", "existing", "total", "next", "expires",
                 "path", "tempauth", "lock", "url", "gone")


class SharePointMixin:
    """Upload sessions (createUploadSession on Graph, fragments on the SharePoint port) and downloads."""

    def is_sp(self, sock):
        try:
            return self.sp_port is not None and sock.getsockname()[1] == self.sp_port
        except OSError:
            return False

    # ---- Graph side
    def create_session(self, conn, req, close, d, base, rel):
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            raise GraphFail(400, "BadRequest", "Unable to read JSON request payload.")
        item = body.get("item", {}) if isinstance(body, dict) else None
        if not isinstance(item, dict):
            raise GraphFail(400, "invalidRequest", "Invalid request: 'item' must be an object.")
        behaviour = str(item.get("@microsoft.graph.conflictBehavior", "fail")).lower()
        if behaviour not in ("fail", "replace", "rename"):
            raise GraphFail(400, "invalidRequest", "Invalid conflict behavior.")
        if rel.strip("/"):
            parent, name, existing = self.lookup(d, base, rel, create_parents=True)
        elif base.children is None:
            parent, name, existing, behaviour = base.parent, base.name, base, "replace"
        else:
            raise GraphFail(400, "invalidRequest", "Cannot upload content to a folder.")
        check_name(name)
        if self.fire("name_conflict") or (existing is not None and behaviour == "fail"):
            raise GraphFail(409, "nameAlreadyExists", "The specified item name already exists. Name: %s" % name)
        if existing is not None and existing.children is not None:
            raise GraphFail(409, "nameAlreadyExists", "A folder with the name %s already exists." % name)
        ss = Session()
        ss.guid = str(uuid.uuid4())
        ss.drive, ss.parent, ss.name, ss.behaviour = d, parent, name, behaviour
        ss.total, ss.next = None, 0
        if isinstance(item.get("fileSize"), int) and item["fileSize"] >= 0:
            ss.total = item["fileSize"]
        ss.expires = now() + float(self.emu.cfg["session_ttl"])
        ss.path = self.new_path()
        open(ss.path, "wb").close()
        ss.tempauth = self.tempauth("session:" + ss.guid)
        ss.lock = threading.Lock()
        ss.gone = False
        ss.url = ("https://localhost:%d%s/_api/v2.0/drives/%s/items/%s/uploadSession?guid='%s'&path='~tmp%s'"
                  "&overwrite=%s&rename=%s&dc=0&tempauth=%s") % (
            self.sp_port or 0, site_rel(d.site), d.id, parent.id, ss.guid,
            urllib.parse.quote(name[-40:]), "True" if behaviour == "replace" else "False",
            "True" if behaviour == "rename" else "False", ss.tempauth)
        with self.lock:
            self.sessions[ss.guid] = ss
        self.stat("upload_sessions_created")
        host = req.header("host", "graph.microsoft.com")
        return self.reply(conn, req, close, 200, {
            "@odata.context": "https://%s/v1.0/$metadata#microsoft.graph.uploadSession" % host,
            "expirationDateTime": iso_ms(ss.expires), "nextExpectedRanges": ["0-"], "uploadUrl": ss.url})

    def content_redirect(self, conn, req, close, it):
        if it.children is not None:
            raise GraphFail(400, "invalidRequest", "You cannot get content for a folder.")
        self.stat("download_redirects")
        self.emu.bump("graph_status", "302")
        hdrs = self.emu.graph_headers(req) + [("Location", self.download_url(it))]
        hdrs = [h for h in hdrs if h[0] != "Content-Type"]
        return self.emu.write(conn, 302, hdrs, b"", framing="length", close=close)

    # ---- SharePoint side
    def sp_headers(self, ctype="application/json;odata=nometadata;streaming=true;charset=utf-8"):
        rid = str(uuid.uuid4())
        return [("Cache-Control", "private, max-age=0"), ("Content-Type", ctype),
                ("SPRequestGuid", rid), ("request-id", rid), ("X-SharePointHealthScore", "1"),
                ("MicrosoftSharePointTeamServices", "16.0.0.24817"), ("X-Content-Type-Options", "nosniff"),
                ("Strict-Transport-Security", "max-age=31536000"), ("Date", time.strftime(
                    "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now())))]

    def sp_reply(self, conn, status, obj, close, headers=()):
        self.stat("sp_status", sub=str(status))
        body = dumps(obj) if obj is not None else b""
        hdrs = self.sp_headers() + list(headers)
        if obj is None:
            hdrs = [h for h in hdrs if h[0] != "Content-Type"]
        return self.emu.write(conn, status, hdrs, body, framing="length", close=close)

    def sp_error(self, conn, e, close):
        err = {"code": e.code, "message": e.message}
        err["innerError"] = e.inner if e.inner is not None else {
            "date": iso_now()[:-1], "request-id": str(uuid.uuid4())}
        return self.sp_reply(conn, e.status, {"error": err}, close, e.headers)

    def sp(self, conn, req, close):
        self.stat("sp_requests")
        try:
            if req.path.endswith("/uploadSession") and req.method == "PUT":
                self.count_fragment(req)
            if req.header("authorization") is not None:
                self.stat("authorization_seen_on_sp_host")
                if req.path.endswith("/uploadSession") and req.method == "PUT":
                    self.stat("fragments_with_authorization")
                self.stat("sp_status", sub="401")
                return self.emu.write(conn, 401, self.sp_headers(), b'{"error":{"code":"unauthenticated",'
                                      b'"message":"Unauthenticated"}}', framing="length", close=close)
            if req.path.endswith("/uploadSession"):
                return self.session_route(conn, req, close)
            if req.path.endswith("/_layouts/15/download.aspx"):
                return self.download(conn, req, close)
            raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        except GraphFail as e:
            return self.sp_error(conn, e, close)

    def find_session(self, req):
        q = dict(req.query)
        guid = q.get("guid", "").strip("'")
        with self.lock:
            ss = self.sessions.get(guid)
        if ss is None or ss.gone or not hmac.compare_digest(q.get("tempauth", ""), ss.tempauth):
            raise GraphFail(404, "itemNotFound", "The upload session was not found.",
                            inner={"code": "uploadSessionNotFound", "date": iso_now()[:-1]})
        if ss.expires <= now():
            self.end_session(ss)
            raise GraphFail(404, "itemNotFound", "The upload session has expired.",
                            inner={"code": "uploadSessionNotFound", "date": iso_now()[:-1]})
        return ss

    def end_session(self, ss):
        ss.gone = True
        with self.lock:
            self.sessions.pop(ss.guid, None)
        if ss.path:
            try:
                os.unlink(ss.path)
            except OSError:
                pass

    def session_status(self, ss):
        return {"expirationDateTime": iso_ms(ss.expires), "nextExpectedRanges": ["%d-" % ss.next]}

    def session_route(self, conn, req, close):
        if req.method == "PUT":
            return self.fragment(conn, req, close)
        ss = self.find_session(req)
        if req.method == "GET":
            return self.sp_reply(conn, 200, self.session_status(ss), close)
        if req.method == "DELETE":
            self.end_session(ss)
            self.stat("upload_sessions_deleted")
            return self.sp_reply(conn, 204, None, close)
        raise GraphFail(405, "invalidRequest", "Method not allowed on an upload session.")

    def count_fragment(self, req):
        self.stat("upload_fragments")
        cl = req.header("content-length")
        with self.emu.lock:
            sizes = self.emu.stats["upload_fragment_sizes"]
            sizes.append(int(cl) if cl and cl.isdigit() else None)
            del sizes[:-1000]

    def fragment(self, conn, req, close):
        cl = req.header("content-length")
        ss = self.find_session(req)
        if self.fire("expire_session"):
            self.end_session(ss)
            raise GraphFail(404, "itemNotFound", "The upload session has expired.",
                            inner={"code": "uploadSessionNotFound", "date": iso_now()[:-1]})
        if self.fire("upload_throttle"):
            raise self.throttle_fail()
        if cl is None:
            raise GraphFail(411, "lengthRequired", "Content-Length header is required.")
        n = int(cl)
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", req.header("content-range", "").strip())
        if not m:
            raise self.reject("badContentRange", 400, "invalidRequest",
                              "The Content-Range header is missing or malformed.")
        a, b, total = (int(x) for x in m.groups())
        if ss.total is not None and total != ss.total:
            raise self.reject("totalMismatch", 400, "invalidRequest",
                              "The current upload session is for %d total bytes, but the current fragment "
                              "declares a total of %d." % (ss.total, total))
        if b < a or b >= total or b - a + 1 != n:
            raise self.reject("lengthMismatch", 400, "invalidRequest",
                              "The Content-Range does not match the Content-Length of the fragment.",
                              inner={"code": "fragmentLengthMismatch", "date": iso_now()[:-1]})
        if n > int(self.emu.cfg["max_fragment"]):
            raise self.reject("tooLarge", 400, "invalidRequest", "The fragment is larger than the maximum "
                              "of %d bytes." % int(self.emu.cfg["max_fragment"]),
                              inner={"code": "maxFragmentLengthExceeded", "date": iso_now()[:-1]})
        if a != ss.next or self.fire("fragment_416"):
            raise self.reject("range", 416, "invalidRange",
                              "Uploaded fragment overlaps with existing data." if a < ss.next else
                              "The uploaded fragment is not in the expected order.",
                              inner={"code": "fragmentOverlap" if a < ss.next else "fragmentOutOfOrder",
                                     "request-id": str(uuid.uuid4()), "date": iso_now()[:-1]},
                              headers=[])
        if b + 1 != total and n % FRAGMENT_UNIT:
            raise self.reject("notMultiple", 400, "invalidRequest", "The fragment size must be a multiple of "
                              "320 KiB (327680 bytes) except for the last fragment.",
                              inner={"code": "fragmentLengthMismatch", "date": iso_now()[:-1]})
        if not ss.lock.acquire(blocking=False):
            raise self.reject("busy", 409, "resourceModified", "Another fragment of this session is in flight.")
        try:
            cut = None
            if self.fire("drop_fragment"):
                db = self.emu.cfg["drop_fragment_bytes"]
                cut = int(db) if db not in (None, "") else n // 2
            with open(ss.path, "r+b") as f:
                f.seek(a)
                got = read_body(conn, n, f.write, cut)
            if got < n:             # the fault: the bytes received so far are not committed
                self.emu._abort(conn, conn.sock)
                return False
            ss.total, ss.next = total, b + 1
            ss.expires = max(ss.expires, now())
        finally:
            ss.lock.release()
        if ss.next < total:
            return self.sp_reply(conn, 202, self.session_status(ss), close)
        return self.commit(conn, req, close, ss)

    def reject(self, why, status, code, message, inner=None, headers=()):
        self.stat("fragments_rejected", sub=why)
        return GraphFail(status, code, message, headers, inner)

    def commit(self, conn, req, close, ss):
        d, parent = ss.drive, ss.parent
        with self.lock:
            existing = parent.children.get(ss.name.lower())
            name = ss.name
            if existing is not None and (ss.behaviour == "fail" or existing.children is not None):
                ss.next = ss.total          # all bytes are there; the session waits for a retry or expiry
                raise GraphFail(409, "nameAlreadyExists", "Another file exists with the same name as the "
                                "uploaded session. You can redirect the upload session to use a new filename "
                                "by calling PUT with the new metadata and @microsoft.graph.sourceUrl attribute.")
            if existing is not None and ss.behaviour == "rename":
                name, existing = free_name(parent, name), None
            with open(ss.path, "r+b") as f:
                f.truncate(ss.total)
            it = self.attach(d, parent, name, ss.path, existing)
            ss.path = None
            self.end_session(ss)
        self.stat("upload_sessions_completed")
        self.stat("bytes_committed", it.size)
        obj = self.item_obj(req, it, sp=True)
        if self.fire("bad_hash"):
            obj["file"]["hashes"]["quickXorHash"] = wrong_hash(it.qxh)
        return self.sp_reply(conn, 200 if existing is not None else 201, obj, close)

    # ---- downloads
    def download(self, conn, req, close):
        if req.method not in ("GET", "HEAD"):
            raise GraphFail(405, "invalidRequest", "Method not allowed.")
        q = dict(req.query)
        with self.lock:
            ent = self.downloads.get(q.get("UniqueId", "").lower())
        if ent is None or not hmac.compare_digest(q.get("tempauth", ""), ent[1]) or \
                ent[0].drive.items.get(ent[0].id) is not ent[0] or ent[0].path is None:
            raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        it = ent[0]
        f = open(it.path, "rb")         # opened now: a replace during the transfer cannot change it
        try:
            size = os.fstat(f.fileno()).st_size
            start, end, status = 0, size - 1, 200
            rng = req.header("range")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", (rng or "").strip())
            if m and (m.group(1) or m.group(2)):
                a, b = m.group(1), m.group(2)
                if a:
                    start, end = int(a), min(int(b), size - 1) if b else size - 1
                else:
                    start, end = max(0, size - int(b)), size - 1
                if start >= size or (a and b and int(b) < int(a)) or (not a and int(b) == 0):
                    self.stat("ranged_downloads")
                    self.stat("sp_status", sub="416")
                    hdrs = [h for h in self.sp_headers() if h[0] != "Content-Type"]
                    hdrs.append(("Content-Range", "bytes */%d" % size))
                    return self.emu.write(conn, 416, hdrs, b"", framing="length", close=close)
                status = 206
                self.stat("ranged_downloads")
            length = max(0, end - start + 1)
            hdrs = [h for h in self.sp_headers(it.mime) if h[0] != "Cache-Control"]
            hdrs[0:0] = [("Cache-Control", "private")]
            hdrs += [("Content-Length", str(length)), ("Accept-Ranges", "bytes"),
                     ("ETag", '"{%s},%d"' % (it.guid, it.version)),
                     ("Content-Disposition", "attachment; filename*=UTF-8''%s" % urllib.parse.quote(it.name))]
            if status == 206:
                hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
            if close:
                hdrs.append(("Connection", "close"))
            self.stat("downloads")
            self.stat("sp_status", sub=str(status))
            lines = ["HTTP/1.1 %d %s" % (status, "OK" if status == 200 else "Partial Content")]
            lines += ["%s: %s" % kv for kv in hdrs]
            conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
            if req.method == "HEAD":
                return not close
            cut = int(self.emu.cfg["drop_download_bytes"]) if self.fire("drop_download") else None
            f.seek(start)
            left, sent = length, 0
            while left > 0:
                piece = f.read(min(IO_PIECE, left))
                if not piece:
                    break
                if cut is not None and sent + len(piece) >= cut:
                    conn.sock.sendall(piece[:max(0, cut - sent)])
                    self.stat("download_bytes", max(0, cut - sent))
                    self.emu._abort(conn, conn.sock)
                    return False
                conn.sock.sendall(piece)
                sent += len(piece)
                left -= len(piece)
            self.stat("download_bytes", sent)
            return not close
        finally:
            f.close()



# --------------------------------------------------------------------------------------------------
class DriveService(SharePointMixin):
    def __init__(self, emu, make_site, site_fields):
        self.emu = emu
        self.make_site = make_site
        self.site_fields = site_fields
        self.lock = threading.RLock()
        self.dir = tempfile.mkdtemp(prefix="spo-emulator-drive-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.site_cache_key = None
        self.site_by_id = {}
        self.site_by_path = {}
        self.drives = {}
        self.sessions = {}
        self.downloads = {}
        self.lists = {}
        self.counters = {}
        self.sp_port = None
        self.file_no = 0

    # ---- stats and faults
    @staticmethod
    def fresh_stats():
        return json.loads(json.dumps(STATS))

    def reset_faults(self):
        with self.lock:
            self.counters = {}

    def fire(self, name):
        """True if fault switch `name` ("once" / "every N") fires on this occasion."""
        spec = self.emu.cfg.get(name)
        if not spec:
            return False
        spec = str(spec).strip().lower()
        with self.lock:
            n = self.counters.get(name, 0) + 1
            self.counters[name] = n
        if spec == "once":
            hit = n == 1
        elif spec.startswith("every"):
            try:
                k = int(spec.split()[1]) if len(spec.split()) > 1 else 1
            except ValueError:
                k = 1
            hit = k > 0 and n % k == 0
        else:
            hit = False
        if hit:
            self.emu.fault(name)
        return hit

    def stat(self, key, n=1, sub=None):
        self.emu.bump(key, sub, n)

    # ---- sites
    def _site_index(self):
        cfg = self.emu.cfg
        key = (int(cfg["seed"]), int(cfg["sites"]), cfg["sp_host"])
        with self.lock:
            if key != self.site_cache_key:
                by_id, by_path = {}, {}
                for i in range(key[1]):
                    s = self.make_site(key[0], i, key[2])
                    by_id[s["id"].lower()] = i
                    p = urllib.parse.urlsplit(s["webUrl"]).path
                    by_path[urllib.parse.unquote(p).rstrip("/").lower()] = i
                self.site_by_id, self.site_by_path, self.site_cache_key = by_id, by_path, key
            return key

    def site(self, i):
        seed, _, host = self._site_index()
        s = self.make_site(seed, i, host)
        s["_index"] = i
        return s

    def find_site_by_id(self, sid):
        self._site_index()
        sid = sid.strip().lower()
        host = self.emu.cfg["sp_host"].lower()
        if sid in ("root", host):
            return self.site(0)
        i = self.site_by_id.get(sid)
        if i is None:
            raise GraphFail(404, "itemNotFound", "Requested site could not be found")
        return self.site(i)

    def find_site_by_path(self, host, path):
        self._site_index()
        if host.lower() != self.emu.cfg["sp_host"].lower():
            raise GraphFail(404, "itemNotFound", "Requested site could not be found")
        i = self.site_by_path.get(urllib.parse.unquote(path).rstrip("/").lower())
        if i is None:
            raise GraphFail(404, "itemNotFound", "Requested site could not be found")
        return self.site(i)

    def drive_id(self, index, no):
        seed = int(self.emu.cfg["seed"])
        tag = hashlib.blake2b(b"drive:%d:%d:%d" % (seed, index, no), digest_size=43).digest()
        return "b!" + base64.urlsafe_b64encode(struct.pack(">IB", index, no) + tag).decode()

    def drive(self, site, no):
        key = (site["id"], no)
        with self.lock:
            d = self.drives.get(key)
            if d is None:
                d = self.drives[key] = Drive(self, site, site["_index"], no)
                self.populate(d)
            return d

    def find_drive(self, did):
        try:
            raw = base64.urlsafe_b64decode(did[2:] + "=" * (-len(did[2:]) % 4)) if did.startswith("b!") else b""
        except ValueError:
            raw = b""
        if len(raw) == 48:
            index, no = struct.unpack(">IB", raw[:5])
            self._site_index()
            if index < int(self.emu.cfg["sites"]) and no < 2 and self.drive_id(index, no) == did:
                return self.drive(self.site(index), no)
        raise GraphFail(404, "itemNotFound", "The resource could not be found.")

    # ---- storage
    def new_path(self):
        with self.lock:
            self.file_no += 1
            return os.path.join(self.dir, "f%08d" % self.file_no)

    def store_bytes(self, drive, parent, name, data):
        p = self.new_path()
        with open(p, "wb") as f:
            f.write(data)
        return self.attach(drive, parent, name, p)

    def attach(self, drive, parent, name, path, existing=None):
        """Make the file at `path` the content of parent/name (replacing `existing`); return the item."""
        q, s = file_hashes(path)
        with self.lock:
            it = existing
            if it is None:
                it = drive.new_item(name, parent, False)
            else:
                if it.path and it.path != path:
                    try:
                        os.unlink(it.path)
                    except OSError:
                        pass
                it.version += 1
                it.modified = iso_now()
            it.path, it.qxh, it.sha256 = path, q, s
            it.size = os.path.getsize(path)
            it.mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return it

    def populate(self, d):
        r = d.root
        if d.no == 0:
            d.new_item("General", r, True)
            tel = d.new_item("telemetry", r, True)
            self.store_bytes(d, tel, "readme.txt", b"Telemetry uploads land here.\n")
            self.store_bytes(d, r, "Welcome.txt", b"Welcome to the emulated document library.\n")
            self.store_bytes(d, r, "Caf\u00e9 \u2615 notes.txt", "Caf\u00e9 \u2615\n".encode())
            self.store_bytes(d, r, "100% done #1 & more.txt", b"percent, hash, ampersand\n")
            self.store_bytes(d, r, "emoji \U0001F600.bin", bytes(range(256)))
            bulk = d.new_item("bulk", r, True)
            for i in range(int(self.emu.cfg["bulk_children"])):
                self.store_bytes(d, bulk, "file-%04d.txt" % i, b"file %d\n" % i)
        else:
            self.store_bytes(d, r, "Q1 report.txt", b"Q1: all green.\n")

    def lookup(self, drive, base, rel, create_parents=False):
        """(parent, name, item-or-None) for base/rel; raises 404 when a folder on the way is missing."""
        parts = [p for p in rel.split("/") if p]
        if not parts:
            return base.parent, base.name, base
        cur = base
        for k, p in enumerate(parts[:-1]):
            nxt = cur.children.get(p.lower()) if cur.children is not None else None
            if nxt is None:
                if not create_parents or cur.children is None:
                    raise GraphFail(404, "itemNotFound", "The resource could not be found.")
                check_name(p)
                nxt = drive.new_item(p, cur, True)
                self.stat("folders_created")
            cur = nxt
        if cur.children is None:
            raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        return cur, parts[-1], cur.children.get(parts[-1].lower())

    # ---- JSON
    def item_obj(self, req, it, context=True, select=None, sp=False):
        d = it.drive
        host = req.header("host", "graph.microsoft.com")
        o = {}
        if context:
            if sp:
                o["@odata.context"] = "https://%s/%s/_api/v2.0/$metadata#items/$entity" % (
                    host, site_rel(d.site).lstrip("/"))
            else:
                o["@odata.context"] = "https://%s/v1.0/$metadata#drives('%s')/items/$entity" % (
                    host, d.id.replace("!", "%21"))
        if it.children is None:
            key = "@content.downloadUrl" if sp else "@microsoft.graph.downloadUrl"
            o[key] = self.download_url(it)
        o["createdDateTime"] = it.created
        o["eTag"] = '"{%s},%d"' % (it.guid, it.version)
        o["id"] = it.id
        o["lastModifiedDateTime"] = it.modified
        o["name"] = it.name
        rel = it.rel_path()
        o["webUrl"] = d.site["webUrl"] + "/" + d.url_name + ("/" + urllib.parse.quote(rel) if rel else "")
        o["cTag"] = '"c:{%s},%d"' % (it.guid, it.version)
        o["size"] = it.total_size()
        who = {"application": {"id": self.emu.cfg["client_id"], "displayName": "kiosk-gateway-uploader"},
               "user": {"displayName": "SharePoint App"}}
        o["createdBy"] = who
        o["lastModifiedBy"] = who
        pr = {"driveType": "documentLibrary", "driveId": d.id}
        if it.parent is not None:
            pr["id"] = it.parent.id
            if it.parent.parent is not None:
                pr["name"] = it.parent.name
            prel = it.parent.rel_path()
            pr["path"] = "/drives/%s/root:%s" % (d.id, "/" + prel if prel else "")
            pr["siteId"] = d.site["id"]
        o["parentReference"] = pr
        if it.children is None:
            q = it.qxh
            o["file"] = {"mimeType": it.mime, "hashes": {"quickXorHash": q}}
        else:
            o["folder"] = {"childCount": len(it.children)}
        if it.parent is None:
            o["root"] = {}
        o["fileSystemInfo"] = {"createdDateTime": it.created, "lastModifiedDateTime": it.modified}
        if select:
            o = {k: v for k, v in o.items() if k in select or k.startswith("@odata")}
        return o

    def drive_obj(self, req, d, context=True):
        o = {}
        if context:
            o["@odata.context"] = "https://%s/v1.0/$metadata#drives/$entity" % req.header("host", "graph.microsoft.com")
        used = d.root.total_size()
        o.update({
            "createdDateTime": d.created, "description": "", "id": d.id, "lastModifiedDateTime": iso_now(),
            "name": d.name, "webUrl": d.site["webUrl"] + "/" + d.url_name, "driveType": "documentLibrary",
            "createdBy": {"user": {"displayName": "System Account"}},
            "lastModifiedBy": {"user": {"displayName": "System Account"}},
            "owner": {"group": {"id": str(uuid.UUID(bytes=hashlib.md5(d.site["id"].encode()).digest())),
                                "displayName": d.site["displayName"] + " Owners"}},
            "quota": {"deleted": 0, "remaining": QUOTA_TOTAL - used, "state": "normal",
                      "total": QUOTA_TOTAL, "used": used},
        })
        return o

    def site_obj(self, req, s):
        o = {"@odata.context": "https://%s/v1.0/$metadata#sites/$entity" % req.header("host", "graph.microsoft.com")}
        for f in self.site_fields:
            o[f] = s[f]
        return o

    def download_url(self, it):
        tok = self.tempauth(it.guid)
        with self.lock:
            self.downloads[it.guid.lower()] = (it, tok)
        return "https://localhost:%d%s/_layouts/15/download.aspx?UniqueId=%s&Translate=false&tempauth=%s&ApiVersion=2.0" % (
            self.sp_port or 0, site_rel(it.drive.site), it.guid.lower(), tok)

    def tempauth(self, what):
        body = base64.urlsafe_b64encode(hmac.new(self.emu.key, what.encode(), "sha256").digest()).decode().rstrip("=")
        return "v1.eyJzaXRlaWQiOiJlbXVsYXRvciJ9." + body

    # ---- Graph routing
    def graph(self, conn, req, close):
        """Answer a Graph request for a drive/list/site resource; None if the path is not ours."""
        try:
            return self._graph(conn, req, close)
        except NotMine:
            return None
        except GraphFail as e:
            return self.emu.graph_error(conn, req, e.status, e.code, e.message, close, e.headers, e.inner)

    def _graph(self, conn, req, close):
        p = req.path
        if p.startswith("/v1.0/drives/"):
            rest = p[len("/v1.0/drives/"):]
            did, _, rest = rest.partition("/")
            self.stat("drive_requests")
            d = self.find_drive(urllib.parse.unquote(did))
            return self.drive_route(conn, req, close, d, rest)
        if not p.startswith("/v1.0/sites/") or len(p) == len("/v1.0/sites/"):
            raise NotMine()
        self.stat("drive_requests")
        rest = p[len("/v1.0/sites/"):]
        first, _, tail = rest.partition("/")
        if ":" in first or (":" in rest and rest.index(":") < (rest.find("/") if "/" in rest else len(rest))):
            # {host}:/{server-relative path}[:[/more]]
            host, _, after = rest.partition(":")
            end = after.find(":")
            if end < 0:
                path, rest = after, ""
            else:
                path, rest = after[:end], after[end + 1:]
            site = self.find_site_by_path(urllib.parse.unquote(host), path)
            rest = rest.lstrip("/")
        else:
            site = self.find_site_by_id(urllib.parse.unquote(first))
            rest = tail
        segs = rest.split("/") if rest else []
        if not segs:
            self.need(req, "GET")
            return self.reply(conn, req, close, 200, self.site_obj(req, site))
        if segs[0] == "drive":
            return self.drive_route(conn, req, close, self.drive(site, 0), "/".join(segs[1:]))
        if segs[0] == "drives":
            if len(segs) == 1:
                self.need(req, "GET")
                val = [self.drive_obj(req, self.drive(site, n), False) for n in (0, 1)]
                return self.reply(conn, req, close, 200, {
                    "@odata.context": "https://%s/v1.0/$metadata#drives" % req.header("host", "graph.microsoft.com"),
                    "value": val})
            d = self.find_drive(urllib.parse.unquote(segs[1]))
            if d.site["id"] != site["id"]:
                raise GraphFail(404, "itemNotFound", "The resource could not be found.")
            return self.drive_route(conn, req, close, d, "/".join(segs[2:]))
        if segs[0] == "lists" and hasattr(self, "lists_route"):
            return self.lists_route(conn, req, close, site, segs[1:])
        raise GraphFail(400, "BadRequest", "Resource not found for the segment '%s'." % segs[0])

    def need(self, req, *methods):
        if req.method not in methods:
            raise GraphFail(405, "BadRequest", "Specified HTTP method is not allowed for the request target.")

    def reply(self, conn, req, close, status, obj, headers=()):
        self.emu.bump("graph_status", str(status))
        hdrs = self.emu.graph_headers(req) + list(headers)
        return self.emu.write(conn, status, hdrs, dumps(obj), close=close)

    def drive_route(self, conn, req, close, d, rest):
        """rest: '' | root[...] | items/{id}[...] with optional :/{path}: and /children|/content|/createUploadSession."""
        if rest == "":
            self.need(req, "GET")
            return self.reply(conn, req, close, 200, self.drive_obj(req, d))
        if rest.startswith("root"):
            base, after = d.root, rest[4:]
        elif rest.startswith("items/"):
            iid, sep, after = rest[6:].partition(":")
            if sep:
                after = ":" + after
            iid, slash, tail = iid.partition("/")
            if slash:
                after = "/" + tail + after
            with self.lock:
                base = d.items.get(urllib.parse.unquote(iid))
            if base is None:
                raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        else:
            raise GraphFail(400, "BadRequest", "Resource not found for the segment '%s'." % rest.split("/")[0])
        rel = None
        if after.startswith(":"):
            body = after[1:]
            end = body.find(":")
            if end < 0:
                rel, after = body, ""
            else:
                rel, after = body[:end], body[end + 1:]
            rel = urllib.parse.unquote(rel)
        action = after.strip("/")
        if action not in ("", "children", "content", "createUploadSession"):
            raise GraphFail(400, "BadRequest", "Resource not found for the segment '%s'." % action)
        if action == "content" and req.method == "PUT":
            return self.simple_put(conn, req, close, d, base, rel or "")
        if action == "createUploadSession":
            self.need(req, "POST")
            return self.create_session(conn, req, close, d, base, rel or "")
        target = base
        if rel is not None and rel.strip("/"):
            _, _, target = self.lookup(d, base, rel)
            if target is None:
                raise GraphFail(404, "itemNotFound", "The resource could not be found.")
        if action == "content":
            self.need(req, "GET")
            return self.content_redirect(conn, req, close, target)
        if action == "children":
            if req.method == "POST":
                return self.create_folder(conn, req, close, d, target)
            self.need(req, "GET")
            return self.children(conn, req, close, d, target)
        self.need(req, "GET")
        return self.reply(conn, req, close, 200, self.item_obj(req, target, select=select_of(req)))

    # ---- children (paging by name: a keyset token stays right when items are added between pages)
    def children(self, conn, req, close, d, it):
        if it.children is None:
            return self.reply(conn, req, close, 200, {"value": []})
        top, skip, others = None, None, []
        for k, v in req.query:
            kl = k.lower()
            if kl == "$top":
                top = v
            elif kl == "$skiptoken":
                skip = v
            else:
                others.append((k, v))
        cfg = self.emu.cfg
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                raise GraphFail(400, "invalidRequest", "Invalid value '%s' for $top query option." % top)
            size = min(int(top), int(cfg["drive_max_top"]))
        else:
            size = int(cfg["drive_page_size"])
        after = None
        if skip is not None:
            after = self.parse_token(skip)
            if after is None:
                raise GraphFail(400, "invalidRequest", "Invalid skip token.")
        with self.lock:
            kids = sorted(it.children.values(), key=lambda c: c.name.lower())
        if after is not None:
            kids = [c for c in kids if c.name.lower() > after]
        page, more = kids[:size], len(kids) > size
        sel = select_of(req)
        host = req.header("host", "graph.microsoft.com")
        out = {"@odata.context": "https://%s/v1.0/$metadata#drives('%s')/items('%s')/children" % (
            host, d.id.replace("!", "%21"), it.id)}
        if more:
            q = []
            if top is not None:
                q.append(("$top", top))
            q += [(k, v) for k, v in others if k.lower() != "$top"]
            q.append(("$skiptoken", self.make_token(page[-1].name.lower())))
            out["@odata.nextLink"] = "https://%s%s?%s" % (host, req.path, "&".join(
                "%s=%s" % (urllib.parse.quote(k, safe="$"), urllib.parse.quote(v, safe="$-_.~,")) for k, v in q))
        out["value"] = [self.item_obj(req, c, False, sel) for c in page]
        return self.reply(conn, req, close, 200, out)

    def make_token(self, last):
        raw = ("Paged=TRUE&p_FileLeafRef=" + last).encode()
        mac = hmac.new(self.emu.key, raw, "sha256").digest()[:8]
        return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")

    def parse_token(self, tok):
        try:
            raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        except ValueError:
            return None
        mac, raw = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, hmac.new(self.emu.key, raw, "sha256").digest()[:8]):
            return None
        return raw.decode("utf-8", "replace").split("p_FileLeafRef=", 1)[1]

    # ---- folders
    def create_folder(self, conn, req, close, d, parent):
        if parent.children is None:
            raise GraphFail(400, "invalidRequest", "The parent item is not a folder.")
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            raise GraphFail(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                            "header is set and payload is of valid JSON format.")
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise GraphFail(400, "invalidRequest", "The name in the provided oneDrive.item is not valid.")
        if "folder" not in body and "file" not in body:
            raise GraphFail(400, "invalidRequest", "Either 'folder' or 'file' must be provided, but not both.")
        name = body["name"]
        check_name(name)
        behaviour = str(body.get("@microsoft.graph.conflictBehavior", "fail")).lower()
        if behaviour not in ("fail", "replace", "rename"):
            raise GraphFail(400, "invalidRequest", "Invalid conflict behavior.")
        if self.fire("name_conflict"):
            raise GraphFail(409, "nameAlreadyExists", "The specified item name already exists. Name: %s" % name)
        with self.lock:
            existing = parent.children.get(name.lower())
            if existing is not None:
                if behaviour == "fail":
                    raise GraphFail(409, "nameAlreadyExists", "The specified item name already exists. Name: %s" % name)
                if behaviour == "rename":
                    name = free_name(parent, name)
                    existing = None
                elif existing.children is None:
                    d.remove(existing)
                    existing = None
            it = existing or d.new_item(name, parent, True)
            if existing is None:
                self.stat("folders_created")
        return self.reply(conn, req, close, 201, self.item_obj(req, it))

    # ---- simple upload
    def simple_put(self, conn, req, close, d, base, rel):
        cl = req.header("content-length")
        if cl is None:
            raise GraphFail(411, "lengthRequired", "Content-Length header is required.")
        n = int(cl)
        if n > int(self.emu.cfg["simple_put_max"]):
            raise GraphFail(413, "maxFileSizeExceeded", "The request entity is too large: use an upload session "
                            "for files larger than %d bytes." % int(self.emu.cfg["simple_put_max"]))
        behaviour = "replace"
        for k, v in req.query:
            if k == "@microsoft.graph.conflictBehavior":
                behaviour = v.lower()
        if behaviour not in ("fail", "replace", "rename"):
            raise GraphFail(400, "invalidRequest", "Invalid conflict behavior.")
        if self.fire("upload_throttle"):
            raise self.throttle_fail()
        if rel.strip("/"):
            parent, name, existing = self.lookup(d, base, rel, create_parents=True)
        elif base.children is None:
            parent, name, existing = base.parent, base.name, base      # PUT items/{id}/content: replace
        else:
            raise GraphFail(400, "invalidRequest", "Cannot upload content to a folder.")
        check_name(name)
        if self.fire("name_conflict") or (existing is not None and behaviour == "fail"):
            raise GraphFail(409, "nameAlreadyExists", "The specified item name already exists. Name: %s" % name)
        if existing is not None and existing.children is not None:
            raise GraphFail(409, "nameAlreadyExists", "A folder with the name %s already exists." % name)
        path = self.new_path()
        try:
            with open(path, "wb") as f:
                read_body(conn, n, f.write)
        except BaseException:
            os.unlink(path)
            raise
        with self.lock:
            if existing is not None and behaviour == "rename":
                name, existing = free_name(parent, name), None
            status = 200 if existing is not None else 201
            it = self.attach(d, parent, name, path, existing)
        self.stat("simple_puts")
        self.stat("bytes_committed", n)
        obj = self.item_obj(req, it)
        if self.fire("bad_hash"):
            obj["file"]["hashes"]["quickXorHash"] = wrong_hash(it.qxh)
        return self.reply(conn, req, close, status, obj)

    def api(self, conn, req, payload):
        return self.emu.json_reply(conn, 404, {"error": "unknown emulator endpoint"})

    def throttle_fail(self):
        st = int(self.emu.cfg["upload_throttle_status"])
        ra = self.emu.retry_after_value()
        hdrs = [("Retry-After", ra)] if ra is not None else []
        if st == 503:
            return GraphFail(503, "serviceNotAvailable", "Service unavailable.", hdrs)
        inner = {"code": "throttledRequest", "innerError": {"code": "quota"}, "date": iso_now()[:-1],
                 "request-id": str(uuid.uuid4())}
        return GraphFail(429, "activityLimitReached", "The request has been throttled", hdrs, inner)


# --------------------------------------------------------------------------------------------------
def site_rel(site):
    return urllib.parse.urlsplit(site["webUrl"]).path.rstrip("/")


def check_name(name):
    if FORBIDDEN_NAME.search(name) or name.strip() != name or name in (".", "..") or len(name) > 400:
        raise GraphFail(400, "invalidRequest", "The provided name contains invalid characters: %s" % name)


def free_name(parent, name):
    n = 1
    while rename_candidate(name, n).lower() in parent.children:
        n += 1
    return rename_candidate(name, n)


def wrong_hash(q):
    raw = bytearray(base64.b64decode(q))
    raw[0] ^= 0xFF
    return base64.b64encode(bytes(raw)).decode()


def select_of(req):
    for k, v in req.query:
        if k.lower() == "$select":
            return {f.strip() for f in v.split(",") if f.strip()}
    return None


def read_body(conn, n, sink, stop_after=None):
    """Move up to n body bytes (stop_after: fewer) from the connection to sink(), piece by piece."""
    limit = n if stop_after is None else min(n, stop_after)
    got = 0
    while got < limit:
        if conn.buf:
            piece = conn.buf[:limit - got]
            conn.buf = conn.buf[len(piece):]
        else:
            conn.sock.settimeout(30)
            piece = conn.sock.recv(min(IO_PIECE, limit - got))
            if not piece:
                conn.body_left = n - got
                raise ConnectionError("client closed mid-body")
        sink(piece)
        got += len(piece)
    conn.body_left = n - got
    return got


def defer_body(conn, req, on_sp):
    """True when this request's body should stay on the connection for the handler to stream."""
    if req.method != "PUT":
        return False
    if on_sp:
        return True
    path = req.target.partition("?")[0]
    return path.startswith(("/v1.0/drives/", "/v1.0/sites/")) and path.endswith("/content")


def drain(conn, limit=256 * 1024 * KIB):
    """Discard an unread request body so the connection can serve the next request; False = close it."""
    if conn.body_left > limit:
        return False
    try:
        read_body(conn, conn.body_left, lambda _piece: None)
    except (OSError, ConnectionError):
        return False
    return True

