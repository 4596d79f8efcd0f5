# A real writer process beside replicate, as the app would be: transaction j inserts row j and
# sets row j-1's v to j, so the database after any prefix 1..k of transactions is known exactly.
# Prints "j started finished" (Unix seconds) for each commit, flushed at once.
# Usage: writer.py DB COUNT RATE [truncate_every] [start]
import os, sqlite3, sys, time

db, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
truncate_every = int(sys.argv[4]) if len(sys.argv) > 4 else 0
start = int(sys.argv[5]) if len(sys.argv) > 5 else 1
c = sqlite3.connect(db, isolation_level=None, timeout=30)
c.execute("PRAGMA busy_timeout=30000")
# An app may turn its own checkpoints off: replicate must then bound the -wal by itself.
if "WRITER_AUTOCHECKPOINT" in os.environ:
    c.execute("PRAGMA wal_autocheckpoint=%d" % int(os.environ["WRITER_AUTOCHECKPOINT"]))
gap = 1.0 / rate
for j in range(start, start + count):
    began = time.time()
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO t(x, v, pad) VALUES (?, 0, randomblob(300 + ? % 700))", (j, j))
    c.execute("UPDATE t SET v = ? WHERE x = ?", (j, j - 1))
    c.execute("COMMIT")
    done = time.time()
    print(j, began, done, flush=True)
    if truncate_every and j % truncate_every == 0:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    left = gap - (time.time() - began)
    if left > 0:
        time.sleep(left)
