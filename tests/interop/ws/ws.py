#!/usr/bin/env python3
"""WebSocket peers for tests/streaming.rs, on the `websockets` library
(not written by this project).

  ws.py serve            echo server on 127.0.0.1:0; prints "port N", then
                         serves until killed. A text message "stall" makes
                         it stop reading for good (a peer that never reads).
  ws.py stall URL TOKEN   asks the server to stop reading, then sends 64 KiB
                         messages until the connection blocks or closes;
                         reports how much it could send and when it closed
  ws.py client URL [TOKEN]
                         connects (Authorization: Bearer TOKEN if given),
                         exchanges text, binary and a 1 MiB message, and
                         prints a JSON report; a refused handshake reports
                         its HTTP status and headers.
"""
import asyncio
import json
import os
import sys

import websockets
from websockets.asyncio.server import serve
from websockets.sync.client import connect


async def echo(ws):
    async for msg in ws:
        if msg == "stall":
            # Stop reading the socket itself: the library would otherwise
            # keep reading frames into its own memory.
            ws.transport.pause_reading()
            await asyncio.sleep(3600)
        await ws.send(msg)


async def server():
    async with serve(echo, "127.0.0.1", 0, max_size=4 << 20) as s:
        port = s.sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await asyncio.Future()


def client(url, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = {}
    try:
        with connect(url, additional_headers=headers, max_size=4 << 20, open_timeout=10) as ws:
            out["subprotocol_ok"] = True
            ws.send("hello")
            out["text"] = ws.recv(timeout=10)
            ws.send(b"\x00\x01\x02")
            out["binary"] = list(ws.recv(timeout=10))
            big = "x" * (1 << 20)
            ws.send(big)
            out["big_ok"] = ws.recv(timeout=30) == big
            # Many small messages back to back: order and count kept.
            for i in range(200):
                ws.send(str(i))
            out["ordered"] = all(ws.recv(timeout=10) == str(i) for i in range(200))
    except websockets.exceptions.InvalidStatus as e:
        out["status"] = e.response.status_code
        out["www_authenticate"] = e.response.headers.get("WWW-Authenticate")
    print(json.dumps(out))


def stall(url, token):
    import threading
    import time
    out = {"sent": 0}
    # No permessage-deflate and random bytes: what is counted is what
    # crosses the sockets (64 KiB of one letter compresses to ~100 bytes).
    ws = connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=10,
        compression=None,
    )
    ws.send("stall")
    start = time.monotonic()
    chunk = os.urandom(65536)

    def pump():
        try:
            while True:
                ws.send(chunk)
                out["sent"] += len(chunk)
        except Exception as e:  # closed under us: what the test wants to see
            out["closed_by"] = type(e).__name__

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    t.join(timeout=30)
    out["closed_after_s"] = round(time.monotonic() - start, 1) if not t.is_alive() else None
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(server())
    elif sys.argv[1] == "stall":
        stall(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
