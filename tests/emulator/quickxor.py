"""quickXorHash (SharePoint / OneDrive file.hashes.quickXorHash), streaming, standard library only."""
import base64
import hashlib
import struct

IO_PIECE = 1024 * 1024


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
