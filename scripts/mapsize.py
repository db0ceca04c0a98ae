#!/usr/bin/env python3
"""Per-module flash and RAM of a linked image, from its GNU ld map file (only what survived
--gc-sections), as markdown. Usage: mapsize.py LABEL=MAP [LABEL=MAP ...]
Sections count by where the linker script put them: .isr_vector/.text/.ARM.exidx as text, .rodata,
.data (flash and RAM), .bss; .stack is the reserved stack."""
import re
import sys
from collections import defaultdict

KIND = {".isr_vector": "text", ".text": "text", ".ARM.exidx": "text", ".rodata": "rodata",
        ".data": "data", ".bss": "bss", ".stack": "stack"}
FIELDS = ("text", "rodata", "data", "bss")


def group(path):
    """(part, module) for an input file of the link."""
    m = re.search(r"([^/]+)\.a\(([^)]+)\.o\)$", path)
    if m:
        lib, obj = m.groups()
        if lib == "libspo":
            return "spo", obj
        if lib.startswith("libmbed"):
            return "mbedTLS", obj
        return "libc", lib
    if path.startswith("build/") and "/port/" in path:
        return "spo", path.rsplit("/", 1)[-1][:-2]
    return "app", path.rsplit("/", 1)[-1].removesuffix(".o") if path else "(linker)"


def parse(mapfile):
    """(part, module) -> field -> bytes. Merged string sections can be listed overlapping each
    other, so each byte counts once: for the first input section that covers it."""
    entries = defaultdict(list)  # output section -> [(addr, size, key)]
    ends = {}
    out = pending = None
    in_map = False
    for line in open(mapfile, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("Linker script and memory map"):
            in_map = True
            continue
        if not in_map:
            continue
        m = re.match(r"^(\.[\w.]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", line)
        if m and not line.startswith(" "):
            out = m.group(1) if m.group(1) in KIND else None
            if out:
                ends[out] = int(m.group(2), 16) + int(m.group(3), 16)
            continue
        if re.match(r"^\.[\w.]+$", line):  # an output section whose name was too long
            out = None
            continue
        if out is None:
            continue
        # " .text.name 0xADDR 0xSIZE file", or the name alone with the rest on the next line.
        m = re.match(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*(.*)$", line)
        if m:
            name, addr, size, path = m.groups()
        elif pending:
            m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*(\S.*)$", line)
            if m:
                name, (addr, size, path) = pending, m.groups()
        pending = None
        if m:
            key = ("fill", "alignment") if name == "*fill*" else group(path.strip())
            if name == ".bss.client" and key[0] == "app":
                key = ("state", "spo_client")  # the sample's `static spo_client client`
            entries[out].append((int(addr, 16), int(size, 16), key))
            continue
        m = re.match(r"^ ([^\s*]\S*)$", line)
        if m:
            pending = m.group(1)
    sizes = defaultdict(lambda: defaultdict(int))
    for out, items in entries.items():
        covered = 0
        for addr, size, key in sorted(items, key=lambda e: e[0]):
            end = min(addr + size, ends[out])
            n = end - max(addr, covered)
            if n > 0:
                sizes[key][KIND[out]] += n
            covered = max(covered, end)
    return sizes


def row(name, s):
    flash = s["text"] + s["rodata"] + s["data"]
    ram = s["data"] + s["bss"]
    return f"| {name} | " + " | ".join(str(s[f]) for f in FIELDS) + f" | {flash} | {ram} |"


def total(items):
    t = defaultdict(int)
    for s in items:
        for k, v in s.items():
            t[k] += v
    return t


def main():
    builds = [a.split("=", 1) for a in sys.argv[1:]]
    parsed = [(label, parse(path)) for label, path in builds]
    head = "| module | .text | .rodata | .data | .bss | flash | RAM |\n|---|--:|--:|--:|--:|--:|--:|"
    print("### Summary (bytes; flash = .text + .rodata + .data, RAM = .data + .bss)\n")
    cols = " | ".join(f"{label} flash | {label} RAM" for label, _ in parsed)
    print(f"| part | {cols} |\n|---|" + "--:|--:|" * len(parsed))
    names = {"spo": "spo (src/ + port/board)", "mbedTLS": "mbedTLS 3.6.6",
             "libc": "newlib-nano + libgcc", "app": "sample app, startup, CA roots",
             "state": "its spo_client (all of spo's state, in the app's .bss)",
             "fill": "alignment padding"}
    for part in ("spo", "mbedTLS", "libc", "app", "state", "fill"):
        cells = []
        for _, sizes in parsed:
            t = total(s for (p, _m), s in sizes.items() if p == part)
            cells.append(f"{t['text'] + t['rodata'] + t['data']} | {t['data'] + t['bss']}")
        print(f"| {names[part]} | " + " | ".join(cells) + " |")
    cells = []
    for _, sizes in parsed:
        t = total(sizes.values())
        cells.append(f"**{t['text'] + t['rodata'] + t['data']}** | **{t['data'] + t['bss']}** "
                     f"(+ {t['stack']} stack)")
    print("| **image** | " + " | ".join(cells) + " |")
    for label, sizes in parsed:
        print(f"\n### spo per module, {label} build\n\n{head}")
        spo = sorted((m, s) for (p, m), s in sizes.items() if p == "spo")
        for m, s in spo:
            print(row(m, s))
        print(row("**spo total**", total(s for _, s in spo)))
    label, sizes = parsed[-1]
    mb = sorted(((m, s) for (p, m), s in sizes.items() if p == "mbedTLS"),
                key=lambda ms: -(ms[1]["text"] + ms[1]["rodata"] + ms[1]["data"]))
    print(f"\n### mbedTLS per module, {label} build (largest first)\n\n{head}")
    for m, s in mb[:12]:
        print(row(m, s))
    if len(mb) > 12:
        print(row(f"{len(mb) - 12} other modules", total(s for _, s in mb[12:])))
    print(row("**mbedTLS total**", total(s for _, s in mb)))


if __name__ == "__main__":
    main()
