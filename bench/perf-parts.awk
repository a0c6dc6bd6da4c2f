# Groups `perf report --no-children --sort dso,sym --stdio -q` lines (percent, dso, [k] or [.], symbol) of a .NET
# process into parts: the kernel, TLS (OpenSSL), SQLite, the runtime (GC, JIT), and managed code by namespace;
# prints each part's share of the samples.
function part(dso, sym) {
    if (sym ~ /^\[k\]/ || dso ~ /kernel/) return "kernel (sockets, epoll, wake-ups)"
    if (dso ~ /libssl|libcrypto/) return "OpenSSL (TLS records, both hops)"
    if (dso ~ /e_sqlite3/) return "SQLite (recording, search index)"
    if (dso ~ /libcoreclr|libclrjit/) return "runtime (GC, JIT, thread pool)"
    if (sym ~ /Hoop\.Proxy\.Postgres/) return "Hoop: Postgres protocol (relay, parsing, result capture)"
    if (sym ~ /Hoop\.Proxy\.Recording|Hoop\.Data\.Records/) return "Hoop: recording (records, chunks, index)"
    if (sym ~ /Hoop\.Proxy\.Guardrails|Hoop\.Proxy\.Masking/) return "Hoop: guardrails and masking"
    if (sym ~ /Hoop\./) return "Hoop: other"
    if (sym ~ /System\.Net\.Security|System\.Net\.Sockets|System\.IO\.Pipelines/) return ".NET: SslStream and sockets"
    if (sym ~ /System\.Text\.Json/) return ".NET: JSON"
    if (sym ~ /Microsoft\.EntityFrameworkCore|Microsoft\.Data\.Sqlite/) return ".NET: EF Core and Microsoft.Data.Sqlite"
    if (sym ~ /System\.Threading|ThreadPool/) return ".NET: threads and tasks"
    if (dso ~ /perf-|JIT|\.map|doublemapper|\.dll$/) return ".NET: other managed"
    if (dso ~ /libc|libpthread|ld-linux/) return "libc"
    return "other (" dso ")"
}
$1 ~ /%$/ {
    pct = $1; sub(/%/, "", pct); dso = $2; sym = ""
    for (i = 3; i <= NF; i++) sym = sym " " $i
    sub(/^ /, "", sym)
    total[part(dso, sym)] += pct
}
END {
    # One "percent<TAB>part" line per part; the caller sorts them (mawk has no sort of its own).
    for (k in total) printf "%.1f\t%s\n", total[k], k
}
