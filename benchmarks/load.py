"""Load on the served ledger: claim settlement by 1, 8 and 32 concurrent clinics, and a
deadline burst of payments, over HTTP on loopback.

    python benchmarks/load.py                                   # SQLite file in a temp folder
    python benchmarks/load.py --db postgresql://postgres@127.0.0.1:5432/test

Sets up `--households` households (head and two members each, enrolled and paid; done
in-process, not measured), creates a clinic and an agency token, starts `benefitpool serve` as
a separate process (with its ledger process unless `--no-ledger-process`), sends `--warmup`
claims that are not counted (the server's first touch of each household reads it from the
store), and then, with a fixed request count per level:

  (a) for each client count in `--clients`: `--claims` claims (POST /commands/claim, valid
      claims spread over every member) sent by that many concurrent asyncio clients (`--client
      raw`: HTTP/1.1 keep-alive written over asyncio streams, cheap on the shared 2 cores;
      `--client httpx`: httpx.AsyncClient), each waiting for its answer before sending the
      next; throughput, p50/p99 latency and the CPU cores used meanwhile by the server (all
      its processes), the load generator and PostgreSQL;
  (b) a deadline burst: `--payments` payments (POST /commands/pay) for people enrolled but
      not yet paid, by the largest client count;
  (c) the raw baseline, in the same run: the same number of claims settled in-process by
      `Ledger.execute`, one after another, without HTTP (claims/s);
  (d) with `--wrk SECONDS` and `wrk` on the PATH (Debian package `wrk`): the same claims
      endpoint driven by wrk (C, two threads) for that long at each client count, a check of
      the server's own capacity when the load generator costs little CPU (wrk is bounded by
      time, not by a request count).

After the load it checks, from the store, that no household pool is overspent (used equals
min(cap, sum of reimbursable) in settlement order) and that every claim was recorded once.
Errors (any non-200 answer or a rejected command) are counted and printed.
On PostgreSQL the run uses a fresh schema of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from machine import machine  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from adapters.composition import open_ledger, open_tokens  # noqa: E402
from adapters.stores.policy_files import load_policy_book  # noqa: E402
from domain.ids import household_id  # noqa: E402
from domain.money import Money  # noqa: E402

AT = "2020-10-01T10:00:00+08:00"
REGION = "341225"


def rid(seq: int, birth: str = "19800101") -> str:
    base = f"{REGION}{birth}{seq % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")


def people(households: int) -> list[list[str]]:
    """Head and two members per household, each with a distinct valid ID."""
    out, n = [], 0
    for _ in range(households):
        family = []
        for _ in range(3):
            year = 1950 + (n // 1000) % 60
            family.append(rid(n, f"{year}0101"))
            n += 1
        out.append(family)
    return out


def setup(url: str, families: list[list[str]], unpaid: int) -> list[str]:
    """Register, enroll and pay every family; enroll `unpaid` more people without paying."""
    ledger = open_ledger(url, load_policy_book())
    commands = []
    for family in families:
        for person in family:
            commands.append({"op": "register", "person": person, "name": "测试",
                             "region": REGION, "at": AT})
            enroll = {"op": "enroll", "person": person, "year": 2021, "region": REGION,
                      "at": AT}
            if person != family[0]:
                enroll["household_head"] = family[0]
            commands.append(enroll)
            commands.append({"op": "pay", "person": person, "year": 2021, "amount": "280.00",
                             "channel": "cash", "payment_ref": f"P-{person}", "at": AT})
    late = [rid(n, f"19{40 + n // 1000}0202") for n in range(unpaid)]
    for person in late:
        commands.append({"op": "register", "person": person, "name": "测试", "region": REGION,
                         "at": AT})
        commands.append({"op": "enroll", "person": person, "year": 2021, "region": REGION,
                         "at": AT})
    results = list(ledger.execute_lines([json.dumps(c) for c in commands]))
    bad = [r for r in results if r["status"] != "ok"]
    if bad:
        raise RuntimeError(f"setup failed: {bad[:3]}")
    ledger.app.close()
    return late


def claims(families: list[list[str]], count: int, prefix: str, seed: int) -> list[dict]:
    rng = random.Random(seed)
    everyone = [p for f in families for p in f]
    out = []
    for i in range(count):
        fen = rng.randint(500, 9_000)
        out.append({"claim_id": f"{prefix}-{i:06d}", "person": rng.choice(everyone),
                    "visit_date": "2021-03-01", "facility_level": rng.choice([0, 1]),
                    "facility_region": REGION, "expense": f"{fen // 100}.{fen % 100:02d}",
                    "at": "2021-03-01T09:00:00+08:00"})
    return out


async def drive(base: str, token: str, path: str, bodies: list[dict], clients: int,
                client_kind: str = "raw") -> dict:
    """Send every body with `clients` concurrent clients; latencies and errors."""
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def raw_client() -> None:
        # HTTP/1.1 keep-alive written by hand over asyncio streams: a load generator that
        # costs the shared 2 cores far less than httpx (same requests, same checks)
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer "
                f"{token}\r\nContent-Type: application/json\r\nContent-Length: ").encode()
        try:
            while True:
                try:
                    body = json.dumps(queue.get_nowait()).encode()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t)
                if status != 200 or json.loads(payload).get("status") != "ok":
                    errors.append(f"{status} {payload[:160]!r}")
        finally:
            writer.close()

    async def client() -> None:
        # one connection per clinic, kept alive, as a clinic's system would hold one
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers,
                                     limits=httpx.Limits(max_connections=1)) as http:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                response = await http.post(path, json=body)
                latencies.append(time.perf_counter() - t)
                if response.status_code != 200 or response.json().get("status") != "ok":
                    errors.append(f"{response.status_code} {response.text[:160]}")

    start = time.perf_counter()
    kind = raw_client if client_kind == "raw" else client
    await asyncio.gather(*(kind() for _ in range(clients)))
    seconds = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(bodies), "clients": clients, "seconds": seconds,
            "per_s": len(bodies) / seconds,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "errors": len(errors), "first_errors": errors[:3]}


def start_server(url: str, port: int, workers: int, log: Path, ledger_process: bool = True
                 ) -> subprocess.Popen:
    env = {**os.environ, "BENEFITPOOL_DB": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "warning",
         "--ledger-process" if ledger_process else "--no-ledger-process"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: {log.read_text()[-2000:]}")
    process.kill()
    raise RuntimeError("the server did not answer /health within 60 s")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (0 for one that has gone)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (the server, its workers and its ledger process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def postgres_pids() -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


def measured(server: subprocess.Popen, run: Any) -> dict:
    """Run `run()` (a drive), adding the CPU cores used meanwhile by the server (with its
    workers and ledger process), this load generator and PostgreSQL."""
    groups = {"server": process_tree(server.pid), "client": [os.getpid()],
              "postgres": postgres_pids()}
    before = {k: cpu_seconds(v) for k, v in groups.items()}
    row = run()
    for k, v in groups.items():
        row[f"cpu_{k}"] = (cpu_seconds(v) - before[k]) / row["seconds"]
    return row


def check_pools(url: str, families: list[list[str]], sent: set[str]) -> dict:
    """No pool overspent, each claim recorded once, used = min(cap, sum reimbursable)."""
    ledger = open_ledger(url, load_policy_book())
    recorded: set[str] = set()
    overspent = 0
    for family in families:
        h = ledger.app.repository.get(household_id(family[0], 2021))
        cap = Money.parse("250.00").times(len(h.covered_members()))
        used, total = Money(0), Money(0)
        for c in h.claims.values():
            if c.claim_id in recorded or c.pool_used_before != used:
                overspent += 1
            recorded.add(c.claim_id)
            used += c.reimbursed
            total += c.reimbursable
        if used > cap or used != min(cap, total):
            overspent += 1
    ledger.app.close()
    return {"households": len(families), "overspent": overspent,
            "claims_recorded": len(recorded), "claims_missing": len(sent - recorded)}


WRK_SCRIPT = """
local persons = {%s}
local n = 0
request = function()
  n = n + 1
  local p = persons[(n %% #persons) + 1]
  local body = '{"claim_id":"WRK-' .. n .. '-' .. math.random(1e9) .. '","person":"' .. p ..
    '","visit_date":"2021-03-01","facility_level":0,"facility_region":"341225",' ..
    '"expense":"23.40","at":"2021-03-01T09:00:00+08:00"}'
  return wrk.format("POST", "/commands/claim", {["Content-Type"]="application/json",
    ["Authorization"]="Bearer %s"}, body)
end
"""


def run_wrk(base: str, token: str, families: list[list[str]], clients: int, seconds: int,
            folder: Path) -> dict:
    """wrk against the claims endpoint: requests/s, p50 and p99 from its latency report."""
    script = folder / "claims.lua"
    everyone = ",".join(f'"{p}"' for f in families for p in f)
    script.write_text(WRK_SCRIPT % (everyone, token), encoding="utf-8")
    out = subprocess.run(["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s",
                          "--latency", "-s", str(script), base],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value = next(line.split()[1] for line in out.splitlines()
                     if line.strip().startswith(label))
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        unit = value.lstrip("0123456789.")
        return float(value[:-len(unit)]) * scale[unit]
    per_s = float(next(line.split()[1] for line in out.splitlines()
                       if line.startswith("Requests/sec")))
    errors = sum(int(line.split()[-1]) for line in out.splitlines()
                 if line.strip().startswith("Non-2xx"))
    return {"requests": int(per_s * seconds), "clients": clients, "seconds": seconds,
            "per_s": per_s, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "errors": errors,
            "first_errors": []}


def baseline(url: str, bodies: list[dict]) -> dict:
    ledger = open_ledger(url, load_policy_book())
    start = time.perf_counter()
    for body in bodies:
        result = ledger.execute({"op": "claim", **body})
        if result["status"] != "ok":
            raise RuntimeError(f"baseline claim refused: {result}")
    seconds = time.perf_counter() - start
    ledger.app.close()
    return {"requests": len(bodies), "seconds": seconds, "per_s": len(bodies) / seconds}


def fresh_store(db: str | None, folder: Path) -> tuple[str, object]:
    if not db:
        return f"sqlite:///{folder / 'load.db'}", None
    import psycopg

    schema = f"load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{db}?schema={schema}", drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="postgresql://… (default: a SQLite file)")
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--claims", type=int, default=3000, help="claims per client level")
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--wrk", type=int, default=0, metavar="SECONDS",
                        help="also drive the claims endpoint with wrk for this long per level")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="the load generator's HTTP client (raw: hand-written HTTP/1.1 "
                             "over asyncio streams)")
    parser.add_argument("--warmup", type=int, default=1000,
                        help="claims sent by the largest client count before measuring, "
                             "not counted (the server's first touch of each household)")
    parser.add_argument("--no-ledger-process", dest="ledger_process", action="store_false",
                        help="serve with each worker applying its own commands")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.clients.split(",")]

    print("machine")
    for key, value in machine("eventsourcing", "fastapi", "uvicorn", "httpx"):
        print(f"  {key:<14} {value}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, drop = fresh_store(args.db, folder)
        try:
            families = people(args.households)
            late = setup(url, families, args.payments)
            tokens = open_tokens(url)
            clinic, _ = tokens.create("clinic", "3412", "load clinic")
            agency, _ = tokens.create("agency", "3412", "load agency")
            tokens.engine.dispose()
            server = start_server(url, args.port, args.workers, folder / "server.log",
                                  args.ledger_process)
            base = f"http://127.0.0.1:{args.port}"
            rows, sent = [], set()
            try:
                if args.warmup:
                    bodies = claims(families, args.warmup, "WARM", seed=98)
                    sent.update(b["claim_id"] for b in bodies)
                    warm = asyncio.run(drive(base, clinic, "/commands/claim", bodies,
                                             max(levels), args.client))
                    print(f"warm-up: {args.warmup} claims, not counted (p99 "
                          f"{warm['p99_ms']:.1f} ms, errors {warm['errors']})", flush=True)
                for n, clients in enumerate(levels):
                    bodies = claims(families, args.claims, f"L{clients}", seed=n)
                    sent.update(b["claim_id"] for b in bodies)
                    row = measured(server, lambda b=bodies, c=clients: asyncio.run(
                        drive(base, clinic, "/commands/claim", b, c, args.client)))
                    rows.append(("claims", row))
                    print(f"(a) {clients:>2} clients: {row['per_s']:.0f} claims/s, p50 "
                          f"{row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, errors "
                          f"{row['errors']}", flush=True)
                pays = [{"person": p, "year": 2021, "amount": "280.00", "channel": "wechat",
                         "payment_ref": f"BURST-{p}", "at": "2020-12-31T23:00:00+08:00"}
                        for p in late]
                burst = measured(server, lambda: asyncio.run(
                    drive(base, agency, "/commands/pay", pays, max(levels), args.client)))
                rows.append(("payments", burst))
                print(f"(b) deadline burst: {burst['per_s']:.0f} payments/s, p50 "
                      f"{burst['p50_ms']:.1f} ms, p99 {burst['p99_ms']:.1f} ms, errors "
                      f"{burst['errors']}", flush=True)
                if args.wrk and shutil.which("wrk"):
                    for clients in levels:
                        row = run_wrk(base, clinic, families, clients, args.wrk, folder)
                        rows.append(("claims wrk", row))
                        print(f"(d) wrk {clients:>2} connections: {row['per_s']:.0f} claims/s, "
                              f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                              f"non-2xx {row['errors']}", flush=True)
                health = httpx.get(f"{base}/health", timeout=5).json()
                print(f"server: {health}", flush=True)
            finally:
                server.terminate()
                server.wait(timeout=30)
            pools = check_pools(url, families, sent)
            print(f"pools: {pools}", flush=True)
            raw = baseline(url, claims(families, args.claims, "RAW", seed=99))
            print(f"(c) in-process baseline: {raw['per_s']:.0f} claims/s", flush=True)
        finally:
            if drop is not None:
                drop()
    store = "PostgreSQL" if args.db else "SQLite"
    print(f"\nstore {store}, server workers {args.workers}, ledger process "
          f"{'yes' if args.ledger_process else 'no'}, client {args.client}, warm-up "
          f"{args.warmup}")
    print("what         clients  requests  req/s    p50 ms  p99 ms  errors  cores: server "
          "client postgres")
    for kind, r in rows:
        cores = (f"  {r['cpu_server']:>13.2f} {r['cpu_client']:>6.2f} {r['cpu_postgres']:>8.2f}"
                 if "cpu_server" in r else "")
        print(f"{kind:<12} {r['clients']:>7}  {r['requests']:>8}  {r['per_s']:>6.0f}  "
              f"{r['p50_ms']:>6.1f}  {r['p99_ms']:>6.1f}  {r['errors']:>6}{cores}")
    best = max(r["per_s"] for kind, r in rows if kind == "claims")  # the bounded runs
    print(f"\nin-process baseline: {raw['per_s']:.0f} claims/s; best HTTP / in-process = "
          f"{best / raw['per_s']:.2f}")
    print(f"overspent pools: {pools['overspent']}, claims missing: {pools['claims_missing']}")
    failed = pools["overspent"] or pools["claims_missing"] or any(r["errors"] for _, r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
