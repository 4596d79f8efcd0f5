# Driver of benches/replicate.sh (a benchmark, not a test): the app's commit latency with and
# without `db-backup replicate`, the RPO to the backups folder and to S3, the -wal's bound, and
# the S3 requests per hour (counted by the server, Garage's own metrics), idle and under writes.
import json, os, random, re, shutil, signal, sqlite3, statistics, subprocess, sys, threading, time, urllib.request

app, binary, rate, secs, idle, metrics_url, bucket_env, rounds, pristine, warm = sys.argv[1:11]
rate, secs, idle, rounds, warm = int(rate), float(secs), float(idle), int(rounds), float(warm)
db = os.path.join(app, "database/database.sqlite")
changes = os.path.join(app, "storage/app/backups/changes")
env = dict(os.environ, **json.loads(bucket_env))
# rclone 1.60 refuses to start with AWS_CA_BUNDLE set and a plain-http endpoint.
env.pop("AWS_CA_BUNDLE", None)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def writer(seconds, latencies, done, warm=0.0, every=None):
    """500 tx/s (or RATE) of the stock kind: insert a movement, update a product's stock. The
    first `warm` seconds are written and not recorded, but in `every` (seconds into the run,
    latency), which gets all."""
    c = sqlite3.connect(db, isolation_level=None, timeout=30)
    c.execute("PRAGMA busy_timeout=30000")
    gap, start, k = 1.0 / rate, time.time(), 0
    while time.time() - start < warm + seconds:
        k += 1
        t0 = time.time()
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO mouvements(product_id, quantity, pad) VALUES (?, ?, randomblob(200))", (k % 500 + 1, k % 7 + 1))
        c.execute("UPDATE stocks SET stock = stock + 1 WHERE product_id = ?", (k % 500 + 1,))
        c.execute("COMMIT")
        t1 = time.time()
        if every is not None:
            every.append((round(t0 - start, 4), round((t1 - t0) * 1000, 4)))
        if t0 - start >= warm:
            latencies.append(t1 - t0)
            done.append(t1)
        wait = start + k * gap - time.time()
        if wait > 0:
            time.sleep(wait)
    c.close()


def s3_counts():
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    counts = {}
    for line in text.splitlines():
        m = re.match(r'api_s3_request_counter\{api_endpoint="(\w+)"[^}]*\}\s+(\d+)', line)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + int(m.group(2))
    return counts


def diff(a, b):
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}


def seg_range(name):
    m = re.search(r"_(\d{12})_(\d{12})\.dbchanges", name)
    return (int(m.group(1)), int(m.group(2))) if m else None


stop = threading.Event()
local_seen, remote_seen, wal_max = {}, {}, [0]


def watch_local():
    while not stop.is_set():
        for n in (os.listdir(changes) if os.path.isdir(changes) else []):
            if n.endswith(".dbchanges") and n not in local_seen:
                local_seen[n] = time.time()
        try:
            wal_max[0] = max(wal_max[0], os.path.getsize(db + "-wal"))
        except OSError:
            pass
        time.sleep(0.02)


# The S3 watcher's own listings, taken out of the request counts: they are the bench's, not
# replicate's. It stops before the idle phase.
watcher_lists, stop_remote = [0], threading.Event()


def watch_remote():
    while not stop.is_set() and not stop_remote.is_set():
        out = subprocess.run(["rclone", "lsf", "s3:bench/db/changes/"], env=env, capture_output=True, text=True)
        watcher_lists[0] += 1
        now = time.time()
        for n in out.stdout.split():
            if n not in remote_seen:
                remote_seen[n] = now
        time.sleep(0.25)


# --- the app's latency: rounds alternating without and with replicate --------------------
# A single phase without, then one with, compared the machine's drift as much as replicate:
# single phases without it move 0.3-0.6 ms at p99 from one to the next here. ROUNDS rounds
# each way instead, replicate started (and waited for) before each "with" round and stopped
# after it, the latencies pooled per side. The local watcher (a listing every 20 ms) runs in
# every phase. The S3 watcher (an rclone process 4 times a second) is too heavy for a 2-core
# machine: it runs only in the RPO phase, after these rounds.
threading.Thread(target=watch_local, daemon=True).start()


def reset():
    """Each phase starts from the same database: no -wal file, the rows it was built with. Else
    each phase inherits the last one's (the -wal file replicate keeps at its size, more rows)."""
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    shutil.copyfile(pristine, db + ".tmp")
    os.replace(db + ".tmp", db)
    os.sync()
    time.sleep(1)


def start_replicate():
    # A session of its own, as systemd starts it (BENCH_SAME_SESSION=1: the bench's session,
    # the writer's).
    own = os.environ.get("BENCH_SAME_SESSION", "0") != "1"
    rep = subprocess.Popen([binary, "replicate"], cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=own)
    for line in rep.stdout:
        if "has its backup" in line or "going on with chain" in line:
            break
    threading.Thread(target=lambda: [None for _ in rep.stdout], daemon=True).start()
    time.sleep(2)
    return rep


def cpu_secs(pid):
    """CPU time (user + system, all threads) of a running process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


base_lat, lat, rounds_out, rep_cpu, raw, paired = [], [], [], [], [], []
for r in range(rounds):
    a, da = [], []
    reset()
    ea, eb = [], []
    writer(secs, a, da, warm, ea)
    reset()
    rep = start_replicate()
    b, d = [], []
    cpu0 = cpu_secs(rep.pid)
    writer(secs, b, d, warm, eb)
    rep_cpu.append((cpu_secs(rep.pid) - cpu0) / (warm + secs))
    rep.send_signal(signal.SIGTERM)
    rep.wait(timeout=120)
    base_lat += a
    lat += b
    paired.append((a, b))
    # Every commit's latency, warm-up included, by when it began in its round.
    raw.append({"without": ea, "with": eb})
    rounds_out.append({"p99_ms_without": round(pct(a, 99) * 1000, 3), "p99_ms_with": round(pct(b, 99) * 1000, 3)})
wal_max[0] = 0

# --- with replicate running: RPO, the -wal's bound, S3 requests ------------------------------
rep = start_replicate()
before = s3_counts()
t_start = time.time()
# RPO: the same writer again, with the S3 watcher.
time.sleep(2)
names = [n for n in os.listdir(changes) if n.endswith(".dbchanges")]
s0 = max(seg_range(n)[1] for n in names)
threading.Thread(target=watch_remote, daemon=True).start()
rpo_lat, done = [], []
writer(secs, rpo_lat, done)
t_end = time.time()
time.sleep(8)
stop_remote.set()
time.sleep(0.5)
during = diff(before, s3_counts())
during["ListObjects"] = during.get("ListObjects", 0) - watcher_lists[0]
busy_secs = time.time() - t_start

# --- idle ---------------------------------------------------------------------------------
before = s3_counts()
time.sleep(idle)
idle_counts = diff(before, s3_counts())
stop.set()
rep.send_signal(signal.SIGTERM)
rep.wait(timeout=60)


def rpo(seen):
    ranges = [(seg_range(n), t) for n, t in seen.items() if seg_range(n)]
    out = []
    for k, d in enumerate(done, start=1):
        seq = s0 + k
        ts = [t for (f, l), t in ranges if f <= seq <= l]
        if ts:
            out.append(min(ts) - d)
    return out


rl, rr = rpo(local_seen), rpo(remote_seen)


def ratio_interval(pairs, draws=300, seed=1):
    """How sure the p99 ratio is: a bootstrap over rounds (a round's two sides drawn together,
    since they ran minutes apart on the same machine), 5th and 95th percentile of the ratio.
    Rounds here differ by up to 2x in p99 on the same side (the virtual disk), so one number
    alone says little."""
    if len(pairs) < 2:
        return None
    rng, ratios = random.Random(seed), []
    for _ in range(draws):
        pick = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        ratios.append(pct([x for _, b in pick for x in b], 99) / pct([x for a, _ in pick for x in a], 99))
    return [round(pct(ratios, 5), 3), round(pct(ratios, 95), 3)]


# Where in a round the slow commits are (benches/README.md).
with open(os.path.join(os.path.dirname(app), "latencies.json"), "w") as f:
    json.dump(raw, f)
per_hour = lambda c, s: {k: round(v * 3600 / s) for k, v in sorted(c.items())}
print(json.dumps({
    "rate_tx_per_s": rate,
    "latency_rounds": rounds_out,
    "commits": len(lat),
    "latency_p50_ms_without": round(pct(base_lat, 50) * 1000, 3),
    "latency_p99_ms_without": round(pct(base_lat, 99) * 1000, 3),
    "latency_p50_ms_with": round(pct(lat, 50) * 1000, 3),
    "latency_p99_ms_with": round(pct(lat, 99) * 1000, 3),
    "latency_p99_ratio": round(pct(lat, 99) / pct(base_lat, 99), 3),
    "latency_p99_ratio_90pct_interval": ratio_interval(paired),
    "warm_up_s": warm,
    "latency_p99_ratio_with_warm_up": round(
        pct([x for r in raw for _, x in r["with"]], 99) / pct([x for r in raw for _, x in r["without"]], 99), 3),
    "replicate_cpu_percent_of_a_core": round(100 * statistics.mean(rep_cpu), 1),
    "rpo_local_p50_s": round(pct(rl, 50), 3), "rpo_local_p99_s": round(pct(rl, 99), 3),
    "rpo_local_measured": len(rl),
    "rpo_s3_p50_s": round(pct(rr, 50), 3), "rpo_s3_p99_s": round(pct(rr, 99), 3),
    "rpo_s3_measured": len(rr),
    "wal_max_bytes": wal_max[0],
    "s3_requests_per_hour_writing": per_hour(during, busy_secs),
    "s3_requests_per_hour_idle": per_hour(idle_counts, idle),
}, indent=1))
