#!/usr/bin/env python3
"""gRPC peers for tests/streaming.rs, on grpcio (not written by this
project); the stubs are generated from echo.proto at run time.

  grpc_echo.py serve              h2c server on 127.0.0.1:0; prints "port N"
  grpc_echo.py client HOST:PORT [TOKEN]
                                  unary, server-, client- and bidi-streaming
                                  calls with `authorization: Bearer TOKEN`
                                  metadata; prints a JSON report (trailing
                                  metadata seen, stream counts, the status
                                  code of a refused call, a cancelled stream)
"""
import json
import os
import sys
import tempfile
import time
from concurrent import futures

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = tempfile.mkdtemp(prefix="gatehouse-grpc-")
assert protoc.main(["protoc", f"-I{HERE}", f"--python_out={GEN}", f"--grpc_python_out={GEN}", "echo.proto"]) == 0
sys.path.insert(0, GEN)
import echo_pb2  # noqa: E402
import echo_pb2_grpc  # noqa: E402


class Echo(echo_pb2_grpc.EchoServicer):
    def Unary(self, req, ctx):
        ctx.set_trailing_metadata((("x-trailer", "unary-" + req.text),))
        return echo_pb2.Msg(text=req.text, n=req.n + 1)

    def ServerStream(self, req, ctx):
        for i in range(req.n):
            yield echo_pb2.Msg(text=req.text, n=i)
            time.sleep(0.005)
        ctx.set_trailing_metadata((("x-trailer", "stream-done"),))

    def ClientStream(self, reqs, ctx):
        n = sum(1 for _ in reqs)
        return echo_pb2.Msg(text="count", n=n)

    def Bidi(self, reqs, ctx):
        for r in reqs:
            yield echo_pb2.Msg(text=r.text.upper(), n=r.n)


def serve():
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), s)
    port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    print(f"port {port}", flush=True)
    s.wait_for_termination()


def client(addr, token):
    md = (("authorization", f"Bearer {token}"),) if token else ()
    out = {}
    with grpc.insecure_channel(addr) as ch:
        stub = echo_pb2_grpc.EchoStub(ch)
        try:
            resp, call = stub.Unary.with_call(echo_pb2.Msg(text="hi", n=41), metadata=md, timeout=10)
        except grpc.RpcError as e:
            out["refused_code"] = e.code().name
            out["refused_details"] = e.details()
            print(json.dumps(out))
            return
        out["unary"] = [resp.text, resp.n]
        out["unary_trailer"] = dict(call.trailing_metadata()).get("x-trailer")
        it = stub.ServerStream(echo_pb2.Msg(text="s", n=50), metadata=md, timeout=20)
        got = [m.n for m in it]
        out["server_stream"] = len(got) == 50 and got == list(range(50))
        out["server_stream_trailer"] = dict(it.trailing_metadata()).get("x-trailer")
        out["client_stream"] = stub.ClientStream(iter([echo_pb2.Msg(text="c", n=i) for i in range(30)]), metadata=md, timeout=20).n
        bidi = stub.Bidi(iter([echo_pb2.Msg(text=f"m{i}", n=i) for i in range(20)]), metadata=md, timeout=20)
        out["bidi"] = [m.text for m in bidi] == [f"M{i}" for i in range(20)]
        # A long stream cancelled by the client after a few messages.
        it = stub.ServerStream(echo_pb2.Msg(text="long", n=100000), metadata=md, timeout=60)
        first = [next(it).n for _ in range(3)]
        it.cancel()
        out["cancelled_after"] = first
        try:
            next(it)
            out["cancelled_code"] = "none"
        except grpc.RpcError as e:
            out["cancelled_code"] = e.code().name
        # The channel still works after the cancellation.
        out["after_cancel"] = stub.Unary(echo_pb2.Msg(text="again", n=1), metadata=md, timeout=10).n
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
