#!/usr/bin/env python3
"""Floods a gateway with binds that carry a wrong password (asyncio, raw
sockets, `--concurrency` at a time, `--count` in all) and reports how each
was answered. Prints one JSON line."""
import argparse
import asyncio
import json
import struct
import time


def bind_pdu(seq, system_id, password):
    body = system_id.encode() + b"\0" + password.encode() + b"\0" + b"\0" + bytes([0x34, 0, 0]) + b"\0"
    return struct.pack(">IIII", 16 + len(body), 0x00000002, 0, seq) + body


async def one(host, port, seq, system_id, stats):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        w.write(bind_pdu(seq, system_id, "w%d" % seq))  # <= 8 octets: a real password check
        await w.drain()
        head = await asyncio.wait_for(r.readexactly(16), 30)
        length, cmd, status, s = struct.unpack(">IIII", head)
        if length > 16:
            await asyncio.wait_for(r.readexactly(length - 16), 10)
        key = "0x%02X" % status if cmd == 0x80000002 else "cmd_0x%08X" % cmd
        stats[key] = stats.get(key, 0) + 1
        w.close()
    except Exception as e:  # noqa: BLE001
        stats["error_" + type(e).__name__] = stats.get("error_" + type(e).__name__, 0) + 1


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--system-id", default="acme")
    a = p.parse_args()
    stats = {}
    sem = asyncio.Semaphore(a.concurrency)
    t0 = time.time()

    async def guarded(i):
        async with sem:
            await one(a.host, a.port, i + 1, a.system_id, stats)
    await asyncio.gather(*(guarded(i) for i in range(a.count)))
    print(json.dumps({"attempts": a.count, "answers": stats, "seconds": time.time() - t0}))

asyncio.run(main())
