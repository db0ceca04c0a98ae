"""Document libraries, uploads, downloads and lists for the Microsoft emulator (emulator.py).

Graph side (behind the emulator's bearer check and throttling): sites by id or path, drives, driveItems
by path or id, children with paging, folder creation, simple PUT, createUploadSession, GET …/content
(302). SharePoint side: a second TLS listener (--sp-port) serving upload sessions and pre-authenticated
downloads, which refuses any Authorization header. File bytes live in a temporary folder on disk and
are streamed in and out, never held whole in memory. See README.md ("Document libraries").

Modules: drive.py (configuration keys, stats, sites/drives/items on Graph: DriveService), sharepoint.py
(the SharePoint port: upload sessions, downloads), lists.py, drive_api.py (/_emulator/drive/...),
drive_util.py (item model, errors, body streaming), quickxor.py.
"""
import atexit
import base64
import hashlib
import hmac
import json
import mimetypes
import os
import shutil
import struct
import tempfile
import threading
import urllib.parse
import uuid

from drive_api import ControlMixin
from drive_util import (KIB, GraphFail, Drive, NotMine, check_name, defer_body, drain, dumps, free_name,
                        iso_now, read_body, select_of, site_rel, wrong_hash)
from lists import ListsMixin
from quickxor import QuickXor, file_hashes
from sharepoint import SharePointMixin

__all__ = ["DEFAULTS", "CHOICES", "STATS", "DriveService", "QuickXor", "defer_body", "drain"]   # emulator.py, self-test
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
    "bad_hash_get": None,            # a file's driveItem answering GET reports a wrong quickXorHash (downloads)
    "upload_throttle": None,         # fragments and simple PUTs -> upload_throttle_status + Retry-After
    "upload_throttle_status": 429,   # 429 | 503
    "drop_download": None,           # the download answer stops after drop_download_bytes of the body
    "drop_download_bytes": 65536,
}
CHOICES = {"upload_throttle_status": (429, 503)}
FAULTS = ("drop_fragment", "expire_session", "fragment_416", "name_conflict", "bad_hash",
          "upload_throttle", "drop_download", "bad_hash_get")

STATS = {
    "drive_requests": 0, "sp_requests": 0, "sp_status": {},
    "folders_created": 0, "simple_puts": 0, "upload_sessions_created": 0, "upload_sessions_completed": 0,
    "upload_sessions_deleted": 0, "upload_fragments": 0, "upload_fragment_sizes": [],
    "fragments_with_authorization": 0, "fragments_rejected": {}, "bytes_committed": 0,
    "downloads": 0, "ranged_downloads": 0, "download_bytes": 0, "download_redirects": 0,
    "authorization_seen_on_sp_host": 0, "list_items_created": 0,
}



class DriveService(SharePointMixin, ListsMixin, ControlMixin):
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
        # the version is in the tempauth: the URL dies when the item's content is replaced
        tok = self.tempauth("dl:%s:%d" % (it.guid, it.version))
        with self.lock:
            self.downloads[it.guid.lower()] = it
        return ("https://localhost:%d%s/_layouts/15/download.aspx?UniqueId=%s&Translate=false&tempauth=%s"
                "&ApiVersion=2.0") % (
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
        if segs[0] == "lists":
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
        """rest: '' | root[...] | items/{id}[...], then optionally :/{path}: and /children, /content or
        /createUploadSession."""
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
        obj = self.item_obj(req, target, select=select_of(req))
        if "file" in obj and "hashes" in obj["file"] and self.fire("bad_hash_get"):
            obj["file"]["hashes"]["quickXorHash"] = wrong_hash(target.qxh)
        return self.reply(conn, req, close, 200, obj)

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
            with self.lock:
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

    def throttle_fail(self):
        st = int(self.emu.cfg["upload_throttle_status"])
        ra = self.emu.retry_after_value()
        hdrs = [("Retry-After", ra)] if ra is not None else []
        if st == 503:
            return GraphFail(503, "serviceNotAvailable", "Service unavailable.", hdrs)
        inner = {"code": "throttledRequest", "innerError": {"code": "quota"}, "date": iso_now()[:-1],
                 "request-id": str(uuid.uuid4())}
        return GraphFail(429, "activityLimitReached", "The request has been throttled", hdrs, inner)


