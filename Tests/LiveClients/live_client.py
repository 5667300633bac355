#!/usr/bin/env python3
"""Real HTTP/TLS clients (Python's ssl, socket and http.client) for signet's live-server tests.

Each scenario connects to a running `signet serve` on 127.0.0.1, does one thing a real client or
a misbehaving one does, and prints a JSON object with what it observed. The Swift tests assert on
that JSON. Every wait is bounded; nothing here talks to anything but 127.0.0.1.
"""
import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time


def context(args, minimum=None, maximum=None, alpn=("http/1.1",), client_cert=True):
    ctx = ssl.create_default_context(cafile=args.ca)
    if minimum:
        ctx.minimum_version = getattr(ssl.TLSVersion, minimum)
    if maximum:
        ctx.maximum_version = getattr(ssl.TLSVersion, maximum)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if client_cert and args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def tls_socket(args, timeout=10, source=None, **kw):
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    return context(args, **kw).wrap_socket(raw, server_hostname="localhost")


def connection(args, timeout=10):
    return http.client.HTTPSConnection("127.0.0.1", args.port, context=context(args), timeout=timeout)


def read_response(sock, timeout=10):
    """Reads one HTTP response (head and Content-Length body) and whether the server then closed."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if b"\r\n\r\n" not in data:
        return {"status": None, "closed": True, "raw": data.decode("latin-1")}
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    closed = False
    try:
        sock.settimeout(2)
        rest = sock.recv(1)
        closed = rest == b""
    except (socket.timeout, TimeoutError):
        closed = False
    except (ssl.SSLError, ConnectionError, OSError):
        closed = True
    return {"status": status, "headers": headers, "body": body.decode("utf-8", "replace"), "closed": closed}


def scenario_request(args):
    conn = connection(args)
    body = open(args.body_file, "rb").read() if args.body_file else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if args.chunked and body is not None:
        def pieces():
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]
        conn.request(args.method, args.path, body=pieces(), headers=headers, encode_chunked=True)
    else:
        conn.request(args.method, args.path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return {"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()},
            "body": data.decode("utf-8", "replace"), "alpn": conn.sock.selected_alpn_protocol(),
            "tls_version": conn.sock.version()}


def scenario_keepalive(args):
    conn = connection(args)
    body = open(args.body_file, "rb").read()
    ports, statuses = [], []
    for _ in range(args.count):
        conn.request("POST", args.path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
        ports.append(conn.sock.getsockname()[1])
    return {"statuses": statuses, "local_ports": ports}


def scenario_pipelined(args):
    """Sends `count` POST requests without waiting for answers (the first half in one write, the
    others one write each, while the server is still answering) with uids p0, p1, ...; reads the
    responses in order from the same connection."""
    sock = tls_socket(args)
    review = json.loads(open(args.body_file, "rb").read())
    requests = []
    for index in range(args.count):
        review["request"]["uid"] = f"p{index}"
        body = json.dumps(review).encode()
        requests.append((f"POST {args.path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    half = args.count // 2
    sock.sendall(b"".join(requests[:half]))
    for request in requests[half:]:
        sock.sendall(request)
    sock.settimeout(10)
    pending = b""
    statuses, uids = [], []
    for _ in range(args.count):
        while b"\r\n\r\n" not in pending:
            chunk = sock.recv(65536)
            if not chunk:
                return {"statuses": statuses, "uids": uids, "closed_early": True}
            pending += chunk
        head, _, pending = pending.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(pending) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return {"statuses": statuses, "uids": uids, "closed_early": True}
            pending += chunk
        body, pending = pending[:length], pending[length:]
        statuses.append(int(lines[0].split(" ")[1]))
        uids.append(json.loads(body)["response"]["uid"])
    return {"statuses": statuses, "uids": uids, "closed_early": False}


def scenario_raw(args):
    """Sends raw bytes over TLS and reads one response."""
    sock = tls_socket(args)
    payload = args.send.encode("latin-1").decode("unicode_escape").encode("latin-1")
    if args.repeat_header:
        payload += (b"X-Filler: " + b"a" * 1000 + b"\r\n") * args.repeat_header + b"\r\n"
    sock.sendall(payload)
    if args.then_body_bytes:
        try:
            sock.sendall(b"x" * args.then_body_bytes)
        except (ssl.SSLError, ConnectionError, OSError):
            pass
    return read_response(sock)


def scenario_slow(args):
    """Sends part of a request, then nothing: expects 408 from the server's timeout."""
    sock = tls_socket(args, timeout=30)
    sock.sendall(args.send.encode("latin-1").decode("unicode_escape").encode("latin-1"))
    start = time.monotonic()
    result = read_response(sock, timeout=30)
    result["waited_seconds"] = round(time.monotonic() - start, 2)
    return result


def scenario_idle(args):
    """One request on a keep-alive connection, then silence: does the server close it?"""
    sock = tls_socket(args, timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    first = read_response(sock, timeout=5)
    sock.settimeout(args.wait)
    try:
        closed = sock.recv(1) == b""
    except (socket.timeout, TimeoutError):
        closed = False
    except (ssl.SSLError, ConnectionError, OSError):
        closed = True
    return {"first_status": first["status"], "closed_by_server": closed}


def scenario_tls(args):
    try:
        sock = tls_socket(args, minimum=args.min_version, maximum=args.max_version,
                          alpn=tuple(args.alpn.split(",")) if args.alpn else None,
                          client_cert=not args.no_client_cert)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = read_response(sock, timeout=5)
        return {"handshake": True, "version": sock.version(), "alpn": sock.selected_alpn_protocol(),
                "status": response["status"], "cert_sha256": hashlib.sha256(sock.getpeercert(True)).hexdigest()}
    except (ssl.SSLError, ConnectionError, OSError) as error:
        return {"handshake": False, "error": str(error)}


def scenario_concurrent(args):
    """Opens N TLS connections at once (all handshaken before any request), then each POSTs."""
    body = open(args.body_file, "rb").read()
    barrier = threading.Barrier(args.count, timeout=60)
    results = []
    lock = threading.Lock()

    def worker():
        status = None
        try:
            conn = connection(args, timeout=60)
            conn.connect()
            barrier.wait()
            conn.request("POST", args.path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            barrier_after.wait()
            conn.close()
        except Exception as error:  # reported, asserted by the test
            status = repr(error)
        with lock:
            results.append(status)

    barrier_after = threading.Barrier(args.count, timeout=60)
    threads = [threading.Thread(target=worker) for _ in range(args.count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ok = sum(1 for s in results if s == 200)
    return {"ok": ok, "results": [s for s in results if s != 200][:10]}


def scenario_bad_neighbours(args):
    """A truncated TLS handshake and an endless header stay open while a good client is served."""
    truncated = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    # The first bytes of a TLS ClientHello record header and nothing more.
    truncated.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]))
    endless = tls_socket(args)
    endless.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\n")
    stop = threading.Event()

    def trickle():
        n = 0
        while not stop.is_set() and n < 200:
            try:
                endless.sendall(b"X-Trickle-%d: 1\r\n" % n)
            except (ssl.SSLError, ConnectionError, OSError):
                return
            n += 1
            time.sleep(0.05)

    t = threading.Thread(target=trickle)
    t.start()
    time.sleep(0.3)
    good = []
    for _ in range(3):
        conn = connection(args)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        good.append(resp.status)
        conn.close()
    stop.set()
    t.join(15)
    truncated.close()
    endless.close()
    return {"good_statuses": good}


def scenario_hold(args):
    """Tries to hold N handshaken connections, opened 16 at a time so that a slow machine has them
    all open at once (those the server closes on accept are counted, not held), then tries one
    more and reports whether it was served and how many of the held ones were still open then."""
    def attempt(_):
        try:
            return tls_socket(args)
        except (ssl.SSLError, ConnectionError, OSError):
            return None
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        opened = list(pool.map(attempt, range(args.count)))
    held = [s for s in opened if s is not None]
    refused = len(opened) - len(held)
    still_open = sum(1 for s in held if tcp_state(s) == 1)
    extra = {"served": False}
    try:
        sock = tls_socket(args, timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        extra = {"served": read_response(sock, timeout=5)["status"] == 200}
    except (ssl.SSLError, ConnectionError, OSError) as error:
        extra = {"served": False, "error": str(error)}
    for s in held:
        s.close()
    time.sleep(0.5)
    after = tls_socket(args)
    after.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    extra["after_release_status"] = read_response(after, timeout=5)["status"]
    extra["held"] = len(held)
    extra["refused_on_accept"] = refused
    extra["still_open"] = still_open
    return extra


def served(args, source):
    """Whether a new connection from `source` completes its handshake and gets 200 for /healthz."""
    try:
        sock = tls_socket(args, timeout=5, source=source)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status = read_response(sock, timeout=5)["status"]
        sock.close()
        return status == 200
    except (ssl.SSLError, ConnectionError, OSError):
        return False


def scenario_peers(args):
    """Holds N handshaken connections from 127.0.0.1, then reports whether one more from
    127.0.0.1 and one from --other-source are served, and whether 127.0.0.1 is served again
    once it lets its connections go."""
    held = [tls_socket(args, source="127.0.0.1") for _ in range(args.count)]
    result = {"same_peer_served": served(args, "127.0.0.1"), "other_peer_served": served(args, args.other_source)}
    for s in held:
        s.close()
    time.sleep(0.5)
    result["after_release_served"] = served(args, "127.0.0.1")
    return result


def scenario_inflight(args):
    """Starts a POST, signals the test (marker file), waits for its go file, then finishes the body."""
    body = open(args.body_file, "rb").read()
    sock = tls_socket(args, timeout=30)
    head = ("POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % len(body)).encode()
    half = len(body) // 2
    sock.sendall(head + body[:half])
    open(args.marker, "w").write("sent")
    deadline = time.monotonic() + 20
    while not os.path.exists(args.go) and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = None
    try:
        probe = socket.create_connection(("127.0.0.1", args.port), timeout=2)
        try:
            wrapped = context(args).wrap_socket(probe, server_hostname="localhost")
            wrapped.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            refused = read_response(wrapped, timeout=3)["status"] is None
        except (ssl.SSLError, ConnectionError, OSError):
            refused = True
    except (ConnectionError, OSError):
        refused = True
    sock.sendall(body[half:])
    result = read_response(sock, timeout=15)
    result["new_connection_refused"] = refused
    try:
        result["response_uid"] = json.loads(result["body"])["response"]["uid"]
    except Exception:
        pass
    return result


def scenario_body_budget(args):
    """Opens --count connections that each announce a --then-body-bytes body and send only its
    first byte, then one more that sends its whole body; reports what the held ones and the last
    one were answered, then releases the held ones and tries a complete request again."""
    head = ("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % args.then_body_bytes).encode()
    held, dropped = [], 0
    for _ in range(args.count):
        # A server that keeps a per-address share refuses some of them (503 and close) at once:
        # sending to those may fail, which is the outcome expected, not the client's failure.
        try:
            sock = tls_socket(args)
            sock.sendall(head + b"{")
            held.append(sock)
        except (ssl.SSLError, ConnectionError, OSError):
            dropped += 1
    extra = tls_socket(args)
    extra.sendall(head)
    try:
        extra.sendall(b"x" * args.then_body_bytes)
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    refused = read_response(extra, timeout=10)
    held_answers = []
    for sock in held:
        sock.settimeout(0.2)
        try:
            held_answers.append(sock.recv(1) != b"")
        except (socket.timeout, TimeoutError):
            held_answers.append(False)
        except (ssl.SSLError, ConnectionError, OSError):
            held_answers.append(True)
        sock.close()
    body = open(args.body_file, "rb").read()
    deadline = time.monotonic() + 20
    after = None
    while time.monotonic() < deadline:
        try:
            sock = tls_socket(args)
            sock.sendall(("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n" % len(body)).encode() + body)
            after = read_response(sock, timeout=10)["status"]
            sock.close()
        except (ssl.SSLError, ConnectionError, OSError):
            after = None
        if after == 200:
            break
        time.sleep(0.1)
    result = {"refused": refused, "held_answered": held_answers, "after_release_status": after}
    if dropped:
        result["closed_before_sending"] = dropped
    return result


def post_review(args, body, source):
    """One complete review on a new connection from `source`; its status, or the error's name."""
    try:
        sock = tls_socket(args, source=source)
        sock.sendall(("POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n" % len(body)).encode() + body)
        status = read_response(sock, timeout=10)["status"]
        sock.close()
        return status
    except (ssl.SSLError, ConnectionError, OSError) as error:
        return type(error).__name__


def scenario_body_share(args):
    """From each address of --sources in turn, opens --count connections that announce a
    --then-body-bytes body and send its first byte; each is either held (no answer yet) or
    answered at once (a refusal). Then, while they are held, --other-source posts --healthy
    complete reviews. Reports per source how many were held and the refusals' statuses, and the
    other peer's statuses; then lets everything go."""
    head = ("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % args.then_body_bytes).encode()
    held, per_source = [], {}
    for source in args.sources.split(","):
        outcome = {"held": 0, "refused": []}
        for _ in range(args.count):
            sock = tls_socket(args, source=source)
            sock.sendall(head + b"{")
            sock.settimeout(0.5)
            try:
                answered = sock.recv(1) != b""
            except (socket.timeout, TimeoutError):
                answered = False
            except (ssl.SSLError, ConnectionError, OSError):
                answered = True
            if answered:
                sock.settimeout(5)
                rest = b""
                try:
                    rest = sock.recv(64)
                except (ssl.SSLError, ConnectionError, OSError):
                    pass
                # The first byte was read above: "H" of "HTTP/1.1 503 ...".
                status = ("H" + rest.decode("latin-1")).split(" ")
                outcome["refused"].append(int(status[1]) if len(status) > 1 and status[1].isdigit() else None)
                sock.close()
            else:
                outcome["held"] += 1
                held.append(sock)
        per_source[source] = outcome
    body = open(args.body_file, "rb").read()
    healthy = [post_review(args, body, args.other_source) for _ in range(args.healthy)]
    for sock in held:
        sock.close()
    return {"sources": per_source, "other_peer_statuses": healthy}


def scenario_forged_kinds(args):
    """Posts --count reviews on one keep-alive connection, each of the review in --body-file
    with its kind replaced by a different made-up 1 KB name; reports the statuses."""
    review = json.load(open(args.body_file))
    conn = connection(args)
    statuses = []
    for index in range(args.count):
        kind = "Forged%d" % index + "x" * 1024
        review["request"]["kind"]["kind"] = kind
        review["request"]["object"]["kind"] = kind
        conn.request("POST", "/validate?timeout=10s", body=json.dumps(review).encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    return {"statuses": sorted(set(statuses)), "count": len(statuses)}


def peak_rss_kib(pid):
    """The peak resident set size (VmHWM) of process `pid`, in KiB."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def tcp_state(sock):
    """The kernel's TCP state of `sock` (1 is ESTABLISHED), read without reading any data."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def scenario_unread(args):
    """Pipelines --count requests on one connection and never reads an answer. Sends until all
    are sent, the server stops taking them (no progress for a few tries), or the server drops the
    connection; then waits (without reading) for the server to drop it. Reports the server's peak
    resident memory (VmHWM of --pid) before and after."""
    before = peak_rss_kib(args.pid)
    sock = tls_socket(args, timeout=0.5)
    stream = ("%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (args.method, args.path)).encode() * args.count
    sent, stalls, dropped = 0, 0, False
    while sent < len(stream) and stalls < 6:
        try:
            written = sock.send(stream[sent:sent + 16384])
            sent += written
            stalls = 0 if written else stalls + 1
        except (socket.timeout, TimeoutError, ssl.SSLWantWriteError):
            stalls += 1
        except (ssl.SSLError, ConnectionError, OSError):
            dropped = True
    deadline = time.monotonic() + args.wait
    while not dropped and time.monotonic() < deadline:
        if tcp_state(sock) != 1:
            dropped = True
            break
        time.sleep(0.05)
    # The peak is measured once the server gave up on the connection: all it ever buffered for it.
    peak = peak_rss_kib(args.pid)
    return {"sent_bytes": sent, "total_bytes": len(stream), "stalled": stalls >= 6, "dropped": dropped,
            "rss_before_kib": before, "rss_peak_kib": peak}


def scenario_unread_many(args):
    """Opens --count connections with a small receive buffer that each pipeline --repeat-header
    requests for --path and never read an answer. Once every one has stalled (the server stopped
    taking requests) or been dropped, samples the server's held output
    (`signet_http_unsent_output_bytes`) from another connection for a second, checks that
    /healthz still answers, and reports the server's peak resident memory (VmHWM of --pid)."""
    before = peak_rss_kib(args.pid)
    request = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % args.path).encode()
    stream = request * args.repeat_header
    held = []
    for _ in range(args.count):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", args.port))
        sock = context(args).wrap_socket(raw, server_hostname="localhost")
        sock.settimeout(0.2)
        held.append(sock)
    progress = [0] * len(held)
    stalls = [0] * len(held)
    for _ in range(400):
        active = False
        for index, sock in enumerate(held):
            if progress[index] >= len(stream) or stalls[index] >= 4:
                continue
            active = True
            try:
                written = sock.send(stream[progress[index]:progress[index] + 16384])
                progress[index] += written
                stalls[index] = 0 if written else stalls[index] + 1
            except (socket.timeout, TimeoutError, ssl.SSLWantWriteError):
                stalls[index] += 1
            except (ssl.SSLError, ConnectionError, OSError):
                stalls[index] = 4
        if not active:
            break
    samples = []
    for _ in range(5):
        conn = connection(args)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        value = 0
        for line in text.splitlines():
            if line.startswith("signet_http_unsent_output_bytes "):
                value = int(float(line.split()[1]))
        samples.append(value)
        time.sleep(0.2)
    conn = connection(args)
    conn.request("GET", "/healthz")
    healthz = conn.getresponse().status
    conn.close()
    peak = peak_rss_kib(args.pid)
    for sock in held:
        sock.close()
    return {"held_output_samples": samples, "healthz": healthz, "sent_bytes": sum(progress),
            "rss_before_kib": before, "rss_peak_kib": peak}


def scenario_pipelined_padding(args):
    """Opens --count connections that each send, in one write, the review in --body-file to
    /validate (with --review-timeout) followed by --then-body-bytes of a pipelined request that never ends; reports what
    each connection got within three seconds (a status, or null while its review is held) and
    the status of /healthz on another connection afterwards."""
    body = open(args.body_file, "rb").read()
    request = (b"POST /validate?timeout=" + args.review_timeout.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    padding = b"GET /healthz HTTP/1.1\r\nX-Padding: " + b"a" * args.then_body_bytes
    held = []
    for _ in range(args.count):
        sock = tls_socket(args)
        sock.sendall(request + padding)
        held.append(sock)
    statuses = []
    for sock in held:
        try:
            statuses.append(read_response(sock, timeout=3)["status"])
        except (socket.timeout, TimeoutError):
            statuses.append(None)
        except (ssl.SSLError, ConnectionError, OSError):
            statuses.append("closed")
    conn = connection(args)
    conn.request("GET", "/healthz")
    healthz = conn.getresponse().status
    conn.close()
    for sock in held:
        sock.close()
    return {"statuses": statuses, "healthz": healthz}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/healthz")
    parser.add_argument("--body-file")
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--send", default="")
    parser.add_argument("--repeat-header", type=int, default=0)
    parser.add_argument("--then-body-bytes", type=int, default=0)
    # The admission timeout a scenario's reviews ask for (`?timeout=`): how long signet holds them at most.
    parser.add_argument("--review-timeout", default="10s")
    parser.add_argument("--wait", type=float, default=5)
    parser.add_argument("--min-version")
    parser.add_argument("--max-version")
    parser.add_argument("--alpn")
    parser.add_argument("--no-client-cert", action="store_true")
    parser.add_argument("--marker")
    parser.add_argument("--go")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--other-source", default="127.0.0.2")
    parser.add_argument("--sources", default="127.0.0.1")
    parser.add_argument("--healthy", type=int, default=5)
    args = parser.parse_args()
    result = globals()["scenario_" + args.scenario.replace("-", "_")](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
