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
  answered (a registry that hangs). SIGUSR2 lets requests through again.

Responses are passed back unchanged. SIGTERM ends the proxy."""
import argparse
import asyncio
import re
import signal
import time

ABSOLUTE = re.compile(rb"^([A-Z]+) https?://[^/ ]+(/\S*) ")


class Proxy:
    def __init__(self, upstream, delay, forward, log):
        self.upstream = upstream
        self.delay = delay
        self.forward = forward
        self.log = log
        self.hanging = False

    async def serve(self, reader, writer):
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


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--forward", action="store_true")
    parser.add_argument("--log")
    arguments = parser.parse_args()
    proxy = Proxy(arguments.upstream, arguments.delay_ms / 1000, arguments.forward,
                  open(arguments.log, "ab") if arguments.log else None)
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
