#!/usr/bin/env bash
# check-noheap.sh MAPFILE: fail if a GNU ld map shows any heap allocator linked into the image.
# Only what survived --gc-sections counts (the "memory map" part of the map): an archive member
# pulled in for a function that was then discarded is not a heap. For each offender, prints the
# chain of archive members that pulled it in, down to the file that started it.
set -euo pipefail
map=${1:?usage: check-noheap.sh MAPFILE}
[ -f "$map" ] || { echo "check-noheap: $map: no such file" >&2; exit 2; }

awk '
function short(path) { sub(/.*\//, "", path); return path }
BEGIN {
    n = split("malloc free calloc realloc reallocf reallocarray _malloc_r _free_r _calloc_r " \
              "_realloc_r _reallocf_r _sbrk _sbrk_r sbrk brk memalign _memalign_r aligned_alloc " \
              "posix_memalign valloc pvalloc _malloc_usable_size_r malloc_usable_size mallinfo " \
              "__malloc_lock __malloc_free_list __malloc_sbrk_start __malloc_av_ strdup strndup " \
              "_strdup_r _strndup_r asprintf vasprintf _asprintf_r _vasprintf_r open_memstream " \
              "__wrap_malloc", w, " ")
    for (i = 1; i <= n; i++) heap[w[i]] = 1
    part = "archive"
}
/^Discarded input sections/ { part = "discarded"; next }
/^Linker script and memory map/ { part = "map"; next }
part == "archive" {
    # "member\n        referrer (symbol)": remember who pulled each member in, and for what.
    if ($0 ~ /^[^ \t]/) { member = $1; next }
    if (member != "" && match($0, /\([^()]*\)$/)) {
        why[member] = substr($0, RSTART + 1, RLENGTH - 2)
        sub(/[ \t]*\([^()]*\)$/, ""); sub(/^[ \t]+/, "")
        by[member] = $0
        member = ""
    }
    next
}
part == "map" {
    # An input section line names the object that the symbol lines below it belong to.
    if ($0 ~ /^ ?[.*A-Za-z_][^ \t]*[ \t]+0x[0-9a-f]+[ \t]+0x[0-9a-f]+[ \t]+/) { obj = $NF; next }
    if ($0 ~ /^[ \t]+0x[0-9a-f]+[ \t]+0x[0-9a-f]+[ \t]+/) { obj = $NF; next }
    sym = ""
    if ($0 ~ /^[ \t]+0x[0-9a-f]+[ \t]+[A-Za-z_][A-Za-z0-9_.]*[ \t]*$/) sym = $2
    else if ($0 ~ /^[ \t]+0x[0-9a-f]+[ \t]+[A-Za-z_][A-Za-z0-9_.]*[ \t]+=/) { sym = $2; obj = "(linker assignment)" }
    if (sym != "" && (sym in heap)) {
        bad++
        printf "check-noheap: %s is linked, from %s\n", sym, short(obj)
        m = obj; depth = 0
        while ((m in by) && depth++ < 12) {
            printf "    pulled in by %s for %s\n", short(by[m]), why[m]
            m = by[m]
        }
    }
}
END {
    if (part != "map") { print "check-noheap: not a GNU ld map file" > "/dev/stderr"; exit 2 }
    if (bad) { printf "check-noheap: FAIL: %d heap symbol(s) linked\n", bad; exit 1 }
    print "check-noheap: ok, no heap allocator linked"
}' "$map" | sed "s|^check-noheap: ok|check-noheap: $map: ok|"
