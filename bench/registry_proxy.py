#!/usr/bin/env python3
"""A small HTTP/1.1 proxy in front of the loopback docker-registry, run as its own process by the
`mixed` and `rollout` parts of `make bench`.

Each client connection gets its own connection to the registry. The proxy reads the requests the
client sends (signet's are GET and HEAD without a body; a `Content-Length` body is carried along),
and for each one:

- writes `METHOD path` to the request log (`--log`), one line per request, so what one client
  asked can be counted apart from the registry's own access log;
- with `--forward`, turns the absolute-form request line a client sends to a forward proxy
  (`GET http://host/v2/... HTTP/1.1`, what libcurl sends when `http_proxy` is set) into the
  origin form the registry expects;
- with `--delay-ms`, passes it on that many milliseconds after it arrived, so the registry
  answers that much later (in order: a request never overtakes the one before it);
- after SIGUSR1, passes nothing on any more: connections are accepted and read, and never
  answered (a registry that hangs). SIGUSR2 lets requests through again;
- with `--memo`, keeps in memory every complete answer the registry gave to a GET or HEAD (a
  status 200 answer framed by `Content-Length`), keyed by method and path, and answers the same
  request again from memory, at the same delay, without passing it on: the registry's answer
  without the registry's CPU time. The `mixed` part asks for each image's signature once through
  the proxy before its windows, so the registry that shares the machine with signet does not take
  cores from it while it is measured (a real registry runs elsewhere). The request log marks an
  answer from memory with ` memo` after the path. The key ignores `Accept` and `Authorization`:
  for a registry without authentication whose answers do not depend on them (the loopback one),
  and not with `--forward`.

Responses are passed back unchanged. SIGTERM ends the proxy."""
import argparse
import asyncio
import re
import signal
import time

ABSOLUTE = re.compile(rb"^([A-Z]+) https?://[^/ ]+(/\S*) ")
CONNECTION = re.compile(rb"\r\nconnection:[^\r]*\r\n", re.IGNORECASE)


class Proxy:
    def __init__(self, upstream, delay, forward, log, memo=False):
        self.memo = {} if memo else None
        self.upstream = upstream
        self.delay = delay
        self.forward = forward
        self.log = log
        self.hanging = False

    async def serve(self, reader, writer):
        if self.memo is not None:
            await self.serve_one_at_a_time(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        queue = asyncio.Queue()
        tasks = [asyncio.ensure_future(self.requests(reader, queue)),
                 asyncio.ensure_future(self.send(queue, up_writer)),
                 asyncio.ensure_future(self.pump(up_reader, writer))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            w.close()

    async def requests(self, reader, queue):
        """Splits what the client sends into requests and queues each with the time it is due."""
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                await queue.put(None)
                return
            buffer += data
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buffer[:end + 4]
                length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
                total = end + 4 + (int(length.group(1)) if length else 0)
                if len(buffer) < total:
                    break
                request, buffer = buffer[:total], buffer[total:]
                if self.forward:
                    request = ABSOLUTE.sub(rb"\1 \2 ", request, count=1)
                line = request.split(b"\r\n", 1)[0].split(b" ")
                if self.log:
                    self.log.write(line[0] + b" " + line[1] + b"\n")
                    self.log.flush()
                if not self.hanging:
                    await queue.put((time.monotonic() + self.delay, request))

    async def serve_one_at_a_time(self, reader, writer):
        """`--memo`: one request at a time per connection (as libcurl sends them, without
        pipelining), each answered from memory when the registry answered it before."""
        upstream = None
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                arrived = time.monotonic()
                line = request.split(b"\r\n", 1)[0].split(b" ")
                key = (line[0], line[1])
                remembered = self.memo.get(key)
                if self.log:
                    self.log.write(line[0] + b" " + line[1] + (b" memo" if remembered else b"") + b"\n")
                    self.log.flush()
                if self.hanging:
                    await reader.read()
                    return
                wait = arrived + self.delay - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if remembered is None:
                    if upstream is None:
                        upstream = await asyncio.open_connection("127.0.0.1", self.upstream)
                    upstream[1].write(request)
                    await upstream[1].drain()
                    answer, keep = await read_response(upstream[0], head_only=line[0] == b"HEAD")
                    if answer is None:
                        return
                    if keep and line[0] in (b"GET", b"HEAD"):
                        # Kept without a `Connection` header: the request that filled the memo may
                        # have asked the registry to close, which signet's requests do not.
                        end = answer.index(b"\r\n\r\n") + 2
                        self.memo[key] = CONNECTION.sub(b"\r\n", answer[:end], count=1) + answer[end:]
                    remembered = answer
                writer.write(remembered)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            if upstream:
                upstream[1].close()

    @staticmethod
    async def send(queue, writer):
        while True:
            item = await queue.get()
            if item is None:
                return
            due, request = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(request)
            await writer.drain()

    @staticmethod
    async def pump(reader, writer):
        while True:
            data = await reader.read(65536)
            if not data:
                return
            writer.write(data)
            await writer.drain()


async def read_request(reader):
    """One request (head and `Content-Length` body) from `reader`, or None at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
    return head + (await reader.readexactly(int(length.group(1))) if length else b"")


async def read_response(reader, head_only):
    """One answer from the registry: (bytes, whether it may be kept). Only a 200 answer framed by
    `Content-Length` is kept; anything else (chunked, an error) is passed on once. None when the
    registry closed the connection first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None, False
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
    if head_only:
        return head, head.startswith(b"HTTP/1.1 200 ")
    if length:
        return head + await reader.readexactly(int(length.group(1))), head.startswith(b"HTTP/1.1 200 ")
    if re.search(rb"\r\ntransfer-encoding:\s*chunked", head, re.IGNORECASE):
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            body += size_line + await reader.readexactly(size + 2)
            if size == 0:
                return head + body, False
    return head, False


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--forward", action="store_true")
    parser.add_argument("--log")
    parser.add_argument("--memo", action="store_true")
    arguments = parser.parse_args()
    if arguments.memo and arguments.forward:
        parser.error("--memo answers requests in origin form; it does not go with --forward")
    proxy = Proxy(arguments.upstream, arguments.delay_ms / 1000, arguments.forward,
                  open(arguments.log, "ab") if arguments.log else None, memo=arguments.memo)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(proxy, "hanging", True))
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(proxy, "hanging", False))
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", arguments.listen, backlog=1024)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
