"""The emulator's /_emulator/drive/... control API, for the e2e runner to seed and check stored data."""
import base64
import random

from drive_util import IO_PIECE, GraphFail, check_name, iso_ms


class ControlMixin:
    """/_emulator/drive/… : what the e2e runner needs to check stored bytes and list items."""

    def api_site(self, ref):
        if ref in (None, ""):
            return self.site(0)
        if str(ref).isdigit():
            if int(ref) >= int(self.emu.cfg["sites"]):
                raise GraphFail(404, "itemNotFound", "no such site index")
            return self.site(int(ref))
        if str(ref).startswith("/"):
            return self.find_site_by_path(self.emu.cfg["sp_host"], ref)
        return self.find_site_by_id(str(ref))

    def api_drive(self, site, name):
        name = (name or "Documents").lower()
        for no in (0, 1):
            if self.drive(site, no).name.lower() == name or self.drive(site, no).id == name:
                return self.drive(site, no)
        raise GraphFail(404, "itemNotFound", "no such drive (Documents or Reports)")

    def api_item_info(self, it):
        o = {"id": it.id, "name": it.name, "path": it.rel_path(), "driveId": it.drive.id,
             "siteId": it.drive.site["id"], "eTag": '"{%s},%d"' % (it.guid, it.version)}
        if it.children is not None:
            o["folder"] = True
            o["children"] = sorted((c.name for c in it.children.values()), key=str.lower)
        else:
            o.update({"size": it.size, "sha256": it.sha256, "quickXorHash": it.qxh, "file": it.path,
                      "mimeType": it.mime})
        return o

    def api(self, conn, req, payload):
        try:
            return self._api(conn, req, payload)
        except GraphFail as e:
            return self.emu.json_reply(conn, e.status, {"error": e.message})
        except (ValueError, TypeError, KeyError) as e:
            return self.emu.json_reply(conn, 400, {"error": "bad request: %s" % e})

    def _api(self, conn, req, payload):
        q = dict(req.query)
        p = req.path
        if p == "/_emulator/drive/item" and req.method == "GET":
            site = self.api_site(q.get("site"))
            d = self.api_drive(site, q.get("drive"))
            _, _, it = self.lookup(d, d.root, q.get("path", ""))
            if it is None:
                raise GraphFail(404, "itemNotFound", "no such item")
            return self.emu.json_reply(conn, 200, self.api_item_info(it))
        if p == "/_emulator/drive/put" and req.method == "POST":
            if not isinstance(payload, dict) or not payload.get("path"):
                raise GraphFail(400, "invalidRequest", "expected {\"path\":…}")
            site = self.api_site(payload.get("site"))
            d = self.api_drive(site, payload.get("drive"))
            parent, name, existing = self.lookup(d, d.root, payload["path"], create_parents=True)
            check_name(name)
            if existing is not None and existing.children is not None:
                raise GraphFail(409, "nameAlreadyExists", "a folder has that name")
            path = self.new_path()
            with open(path, "wb") as f:
                if "content_b64" in payload:
                    f.write(base64.b64decode(payload["content_b64"]))
                elif "text" in payload:
                    f.write(str(payload["text"]).encode("utf-8"))
                else:
                    write_pattern(f, int(payload.get("size", 0)), payload.get("pattern", "seq"),
                                  int(payload.get("seed", 1)))
            it = self.attach(d, parent, name, path, existing)
            return self.emu.json_reply(conn, 200 if existing is not None else 201, self.api_item_info(it))
        if p == "/_emulator/drive/list-items" and req.method == "GET":
            site = self.api_site(q.get("site"))
            li = self.find_list(site, q.get("list", "Telemetry"))
            with li.lock:
                items = [{"id": x["id"], "created": x["created"], "fields": x["fields"],
                          "request_body": x["body"].decode("utf-8", "replace"),
                          "request_body_b64": base64.b64encode(x["body"]).decode()} for x in li.items]
            return self.emu.json_reply(conn, 200, {"list": li.id, "displayName": li.display, "items": items})
        if p == "/_emulator/drive/sessions" and req.method == "GET":
            with self.lock:
                ss = [{"guid": x.guid, "name": x.name, "next": x.next, "total": x.total,
                       "expirationDateTime": iso_ms(x.expires)} for x in self.sessions.values()]
            return self.emu.json_reply(conn, 200, {"sessions": ss})
        return self.emu.json_reply(conn, 404, {"error": "unknown emulator endpoint"})


def write_pattern(f, size, pattern, seed):
    """size bytes: "zero", "seq" (byte i = i mod 251: a shifted or lost piece shows) or "random" (seeded)."""
    rng = random.Random(seed)
    block = bytes(range(251)) * (IO_PIECE // 251 + 2)     # any 1 MiB window at offset < 251
    done = 0
    while done < size:
        n = min(IO_PIECE, size - done)
        if pattern == "zero":
            piece = bytes(n)
        elif pattern == "random":
            piece = rng.randbytes(n)
        elif pattern == "seq":
            off = done % 251
            piece = block[off:off + n]
        else:
            raise ValueError("pattern must be zero, seq or random")
        f.write(piece)
        done += len(piece)
