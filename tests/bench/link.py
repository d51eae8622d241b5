#!/usr/bin/env python3
"""A TCP relay standing in for a wide-area link (benchmarks only): listens on
127.0.0.1:PORT, forwards each connection to 127.0.0.1:TARGET, and passes the bytes
flowing back from TARGET through one token bucket of RATE bytes per second shared by
every connection (one link), plus a fixed one-way delay in milliseconds.

    link.py PORT TARGET RATE [DELAY_MS]
"""
import asyncio
import sys
import time

PORT, TARGET, RATE = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
DELAY = (float(sys.argv[4]) if len(sys.argv) > 4 else 0.0) / 1000.0
CHUNK = 64 * 1024


class Bucket:
    def __init__(self, rate):
        self.rate, self.tokens, self.t = rate, 0.0, time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        async with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate * 0.05, self.tokens + (now - self.t) * self.rate)
            self.t = now
            self.tokens -= n
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)


link = Bucket(RATE)


async def pump(reader, writer, bucket):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if bucket:
                await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def serve(cr, cw):
    if DELAY:
        await asyncio.sleep(DELAY)  # the connection's set-up crosses the link
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", TARGET)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pump(cr, uw, None), pump(ur, cw, link))


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", PORT)
    async with server:
        await server.serve_forever()

asyncio.run(main())
