#!/usr/bin/env python3
"""A latency shim: a TCP proxy on 127.0.0.1 that delays every byte sent towards the upstream by a
fixed time (default 50 ms), like a link with that one-way delay. Each HTTP request therefore
reaches moto DELAY later than it was sent, whatever the client's concurrency, and answers come
back at once — a request costs DELAY plus moto's own time, as an IAM call from far away costs
its round trip. Chunks are scheduled at arrival + DELAY (not delayed one after another), so
many requests in flight on many connections are each delayed once, as on a real network.

Usage: latency_shim.py --upstream http://127.0.0.1:PORT [--delay-ms 50] [--port P]
Prints "listening http://127.0.0.1:P" on stdout once it accepts connections.
"""
import argparse
import asyncio
import sys
import time
from urllib.parse import urlparse


async def delayed_pipe(reader, writer, delay):
    """Copies reader to writer, each chunk no earlier than DELAY after it was read."""
    queue = asyncio.Queue()

    async def pump():
        while True:
            data = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay, data))
            if not data:
                return

    task = asyncio.create_task(pump())
    try:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        task.cancel()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    up = urlparse(args.upstream)
    delay = args.delay_ms / 1000.0

    async def handle(client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(up.hostname, up.port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(delayed_pipe(client_r, up_w, delay), pipe(up_r, client_w))
        for w in (client_w, up_w):
            w.close()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", args.port, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"listening http://127.0.0.1:{port}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
