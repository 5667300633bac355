"""What the load parts of `make bench` (`mixed`, `rollout`) share: the registry proxy as a process,
an asyncio HTTPS client that sends AdmissionReviews the way the API server does (keep-alive
connections, a new one when none is idle, one request at a time on each), signed images pushed
in parallel, and percentiles."""
import asyncio
import json
import math
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import run

PROXY = os.path.join(run.BENCH, "registry_proxy.py")


class RegistryProxy:
    """bench/registry_proxy.py in front of `registry`; `host` is the address images name (or,
    with `forward`, the `http_proxy` a signet process is given)."""

    def __init__(self, ws, registry, name, delay_ms=0, forward=False, memo=False):
        self.port = run.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(ws.dir, f"proxy-{name}.log")
        arguments = [sys.executable, PROXY, "--listen", str(self.port), "--upstream", str(registry.port),
                     "--delay-ms", str(delay_ms), "--log", self.log_path]
        self.process = subprocess.Popen(arguments + (["--forward"] if forward else []) + (["--memo"] if memo else []),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run.wait_until_listening(self.port)

    def requests(self):
        """The requests clients sent through the proxy so far, as `METHOD path` strings."""
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path, "rb") as f:
            return [line.decode().strip() for line in f if line.strip()]

    def remember_signatures(self, repository, digests, workers=32):
        """With `memo`: asks through the proxy for each image's cosign `.sig` manifest and the
        blobs it names, so the proxy answers signet's own requests for them from memory."""
        accept = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])

        # Straight to the proxy on loopback, whatever http_proxy says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def get(path, headers=None):
            request = urllib.request.Request(f"http://{self.host}{path}", headers=headers or {})
            with opener.open(request, timeout=30) as answer:
                return answer.read()

        def remember(digest):
            tag = digest.replace(":", "-") + ".sig"
            manifest = json.loads(get(f"/v2/{repository}/manifests/{tag}", {"Accept": accept}))
            for blob in [manifest["config"]] + manifest["layers"]:
                get(f"/v2/{repository}/blobs/{blob['digest']}")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(remember, digests))

    def hang(self):
        self.process.send_signal(signal.SIGUSR1)

    def stop(self):
        run.stop_process(self.process)


class AdmissionClient:
    """Posts reviews to one `signet serve` over TLS, reusing idle keep-alive connections and
    opening another when all are busy, as the API server's HTTP client does."""

    def __init__(self, port, cafile):
        self.port = port
        self.context = ssl.create_default_context(cafile=cafile)
        self.idle = []
        self.opened = 0

    async def review(self, body, timeout="10s", limit=30):
        """(HTTP status or None, the AdmissionReview response or the error, latency in ms)."""
        start = time.perf_counter()
        connection = None
        try:
            connection = self.idle.pop() if self.idle else await self.connect()
            status, headers, data = await asyncio.wait_for(self.exchange(connection, body, timeout), limit)
            elapsed = (time.perf_counter() - start) * 1000
            if headers.get("connection", "").lower() == "close":
                connection[1].close()
            else:
                self.idle.append(connection)
            if status != 200:
                return status, data.decode(errors="replace")[:200], elapsed
            return status, json.loads(data), elapsed
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, ssl.SSLError) as error:
            if connection:
                connection[1].close()
            return None, f"{type(error).__name__}: {error}", (time.perf_counter() - start) * 1000

    async def connect(self):
        self.opened += 1
        return await asyncio.open_connection("127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1")

    async def exchange(self, connection, body, timeout):
        reader, writer = connection
        writer.write(f"POST /validate?timeout={timeout} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        status = int((await reader.readline()).split(b" ", 2)[1])
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))

    def close(self):
        for _, writer in self.idle:
            writer.close()
        self.idle = []


def percentile(values, p):
    """The nearest-rank percentile (p in 0..100) of `values`, or None."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(values):
    return {"count": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
            "max_ms": max(values) if values else None}


def denial_message(answer):
    return (answer.get("response", {}).get("status") or {}).get("message", "")


def reason_key(message, length=300):
    """A denial's reason with digests elided, so reasons that differ only by image count together."""
    return re.sub(r"sha256[:-][0-9a-f]{64}", "sha256:…", message)[:length]


def push_signed_images(registry, images, key, workers=12):
    """Pushes each (repository, tag, salt) as a one-layer image with a cosign `.sig` signed by
    `key`, in parallel; returns their digests in order."""
    def push(image):
        repository, tag, salt = image
        digest = registry.push_image(repository, tag, salt)
        registry.push_signature(repository, digest, key)
        return digest
    # The first of each repository alone: the blobs its images share are then there for the others.
    first = {}
    for index, image in enumerate(images):
        first.setdefault(image[0], index)
    digests = {index: push(images[index]) for index in first.values()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rest = [index for index in range(len(images)) if index not in digests]
        digests.update(zip(rest, pool.map(push, [images[index] for index in rest])))
    return [digests[index] for index in range(len(images))]
