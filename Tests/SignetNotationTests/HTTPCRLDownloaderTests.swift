import Foundation
import SignetCrypto
import SignetNotation
import SignetTestSupport
import SignetVerify
import Testing

/// ``HTTPCRLDownloader`` against real HTTP servers on 127.0.0.1: Python's `http.server` serving
/// CRLs made with `openssl ca`, and a server that accepts connections and never answers.
@Suite(.serialized) struct HTTPCRLDownloaderTests {
    static func deadline() -> ContinuousClock.Instant { TestBudget.deadline(120) }

    @Test func aCRLIsDownloadedOnceAndKeptAndAFailureIsHeld() async throws {
        let served = TemporaryDirectory(prefix: "crl-server")
        let server = try await StaticFileServer.start(serving: served.url)
        let signer = try await offThePool { try NotationTestSigner() }
        let bytes = try await offThePool { try signer.rootCRL(revoking: [signer.leaf]) }
        try Data(bytes).write(to: served.file("acme.crl"))
        var holding = HTTPCRLDownloader.Configuration()
        holding.failureHold = TestBudget.seconds(600)  // the held failure below is still held however slow the machine
        let downloader = try HTTPCRLDownloader(configuration: holding)
        defer { downloader.shutdown() }
        let location = server.baseURL + "/acme.crl"

        let first = await downloader.download([location, location], deadline: Self.deadline())
        #expect(first.count == 1)
        #expect(try first[location]?.get().derEncoded == bytes)
        let again = await downloader.download([location], deadline: Self.deadline())
        #expect(try again[location]?.get().derEncoded == bytes)
        #expect(server.requestedPaths.filter { $0 == "/acme.crl" }.count == 1, "kept until its nextUpdate: \(server.requestedPaths)")

        // Not found: a failure that will not pass by itself, held for a while without asking again.
        let missing = server.baseURL + "/missing.crl"
        let notFound = await downloader.download([missing], deadline: Self.deadline())
        #expect(Self.failure(notFound[missing]) == CRLDownloadFailure("HTTP status 404", isTransient: false))
        try Data(bytes).write(to: served.file("missing.crl"))
        let held = await downloader.download([missing], deadline: Self.deadline())
        #expect(Self.failure(held[missing])?.description == "HTTP status 404")
        #expect(server.requestedPaths.filter { $0 == "/missing.crl" }.count == 1, "\(server.requestedPaths)")

        // Not a CRL.
        try Data("not a CRL".utf8).write(to: served.file("text.crl"))
        let text = server.baseURL + "/text.crl"
        #expect(Self.failure(await downloader.download([text], deadline: Self.deadline())[text])?.description.hasPrefix(
            "the answer is not a DER-encoded CRL (RFC 5280 section 4.2.1.13; content type ") == true)
        #expect(Self.failure(await downloader.download([text], deadline: Self.deadline())[text])?.description.hasSuffix("9 bytes starting \"not a CRL\")") == true)

        // Locations signet does not download are refused without a request.
        let refusedLocations = ["https://127.0.0.1:\(server.port)/acme.crl", "ldap://127.0.0.1/cn=acme", "http://user:secret@127.0.0.1:\(server.port)/acme.crl",
                                "http://127.0.0.1:\(server.port)/a b.crl", "http:///acme.crl"]
        let refused = await downloader.download(refusedLocations, deadline: Self.deadline())
        for location in refusedLocations {
            #expect(Self.failure(refused[location])?.description == "not an http URL signet downloads", "\(location)")
        }
        #expect(server.requestedPaths == ["/acme.crl", "/missing.crl", "/text.crl"], "\(server.requestedPaths)")

        // Larger than the limit.
        var small = HTTPCRLDownloader.Configuration()
        small.maximumBytes = 64
        let limited = try HTTPCRLDownloader(configuration: small)
        defer { limited.shutdown() }
        let tooLarge = await limited.download([location], deadline: Self.deadline())
        #expect(Self.failure(tooLarge[location]) == CRLDownloadFailure("the CRL is larger than 64 bytes, signet's limit; supply it in the authority's crls", isTransient: false))

        // What the verifier found unusable is forgotten, and downloaded again next time.
        downloader.discard(location, list: try #require(try again[location]?.get()))
        #expect(try await downloader.download([location], deadline: Self.deadline())[location]?.get().derEncoded == bytes)
        #expect(server.requestedPaths.filter { $0 == "/acme.crl" }.count == 3, "one by the downloader with the small limit: \(server.requestedPaths)")
    }

    /// A distribution point that accepts the connection and never answers: each verification
    /// waits until its own deadline and no longer; the one download goes on for all of them
    /// (single flight), so the server sees one connection however many reviews ask.
    @Test func aDistributionPointThatNeverAnswersCostsAVerificationItsDeadlineAndIsAskedOnce() async throws {
        let port = FreePort.make()
        let script = """
            import socket, sys, threading
            def hold(connection):
                if connection.recv(4096).startswith(b"GET "):
                    print("request", flush=True)
                threading.Event().wait()
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", int(sys.argv[1])))
            server.listen(16)
            while True:
                connection, _ = server.accept()
                threading.Thread(target=hold, args=(connection,), daemon=True).start()
            """
        let silent = try TestProcess("python3", ["-c", script, String(port)])
        defer { silent.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        var configuration = HTTPCRLDownloader.Configuration()
        configuration.requestTimeout = TestBudget.seconds(600)
        let downloader = try HTTPCRLDownloader(configuration: configuration)
        defer { downloader.shutdown() }
        let location = "http://127.0.0.1:\(port)/acme.crl"

        async let first = downloader.download([location], deadline: .now + .milliseconds(800))
        async let second = downloader.download([location], deadline: .now + .milliseconds(800))
        let answers = await [first, second]
        for answer in answers {
            let failure = Self.failure(answer[location])
            #expect(failure?.isTransient == true)
            #expect(failure?.description.hasPrefix("no answer before the verification deadline (the download goes on for up to ") == true, "\(failure?.description ?? "")")
        }
        let third = await downloader.download([location], deadline: .now + .milliseconds(300))
        #expect(Self.failure(third[location])?.isTransient == true)
        // The request may still be on its way on a busy machine: wait for it (bounded), then count.
        let seen = ContinuousClock.now + TestBudget.seconds(60)
        while silent.stdout.isEmpty, ContinuousClock.now < seen { try await Task.sleep(for: .milliseconds(50)) }
        #expect(silent.stdout.split(separator: "\n") == ["request"], "one download for three verifications: \(silent.stdout)")
    }

    static func failure(_ result: Result<CertificateRevocationList, CRLDownloadFailure>?) -> CRLDownloadFailure? {
        guard case .failure(let failure) = result else { return nil }
        return failure
    }

    /// A distribution point that redirects, answers once and then hangs, or hangs: redirects to
    /// http or https are followed (three at most); a refresh that does not finish within the
    /// caller's deadline leaves the CRL kept standing; a caller beyond the download places waits
    /// for one until its deadline; an older CRL never replaces a newer one kept.
    @Test func redirectsRefreshesPlacesAndOlderCRLs() async throws {
        let served = TemporaryDirectory(prefix: "crl-server")
        let files = try await StaticFileServer.start(serving: served.url)
        let signer = try await offThePool { try NotationTestSigner() }
        let older = try await offThePool { try signer.rootCRL(revoking: []) }
        // thisUpdate counts whole seconds.
        try await Task.sleep(for: .milliseconds(1_100))
        let newer = try await offThePool { try signer.rootCRL(revoking: [signer.leaf]) }
        try Data(newer).write(to: served.file("acme.crl"))
        let port = FreePort.make()
        let script = """
            import sys, threading, time
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            files, crl = sys.argv[2], open(sys.argv[3], "rb").read()
            served = {"once": 0}
            class Handler(BaseHTTPRequestHandler):
                def redirect(self, to):
                    self.send_response(302)
                    self.send_header("Location", to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                def crl(self):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/pkix-crl")
                    self.send_header("Content-Length", str(len(crl)))
                    self.end_headers()
                    self.wfile.write(crl)
                def do_GET(self):
                    if self.path == "/redirect": self.redirect(files + "/acme.crl")
                    elif self.path == "/relative": self.redirect("/served")
                    elif self.path == "/served": self.crl()
                    elif self.path == "/loop": self.redirect("/loop")
                    elif self.path == "/ftp": self.redirect("ftp://127.0.0.1/acme.crl")
                    elif self.path == "/once" and served["once"] == 0:
                        served["once"] += 1
                        self.crl()
                    else: time.sleep(3600)
                def log_message(self, *args): pass
            ThreadingHTTPServer.daemon_threads = True
            ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
            """
        let server = try TestProcess("python3", ["-c", script, String(port), files.baseURL, served.file("acme.crl").path])
        defer { server.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        let base = "http://127.0.0.1:\(port)"

        var configuration = HTTPCRLDownloader.Configuration()
        configuration.requestTimeout = TestBudget.seconds(600)
        configuration.maximumAge = .zero
        let downloader = try HTTPCRLDownloader(configuration: configuration)
        defer { downloader.shutdown() }
        for path in ["/redirect", "/relative"] {
            #expect(try await downloader.download([base + path], deadline: Self.deadline())[base + path]?.get().derEncoded == newer, "\(path)")
        }
        for (path, target) in [("/loop", "/loop"), ("/ftp", "ftp://127.0.0.1/acme.crl")] {
            let failure = Self.failure(await downloader.download([base + path], deadline: Self.deadline())[base + path])
            #expect(failure?.description == "HTTP status 302 redirects to \(target), which signet does not follow (at most 3 redirects, to http or https URLs)", "\(failure?.description ?? "")")
            #expect(failure?.isTransient == false)
        }

        // Kept, then refreshed (maximumAge zero) from a point that no longer answers: the CRL
        // kept stands while its nextUpdate has not passed.
        #expect(try await downloader.download([base + "/once"], deadline: Self.deadline())[base + "/once"]?.get().derEncoded == newer)
        let refreshed = await downloader.download([base + "/once"], deadline: .now + .milliseconds(800))
        #expect(try refreshed[base + "/once"]?.get().derEncoded == newer)

        // An older CRL served later does not replace the newer one kept.
        let local = files.baseURL + "/acme.crl"
        #expect(try await downloader.download([local], deadline: Self.deadline())[local]?.get().derEncoded == newer)
        try Data(older).write(to: served.file("acme.crl"))
        #expect(try await downloader.download([local], deadline: Self.deadline())[local]?.get().derEncoded == newer)
        #expect(files.requestedPaths.filter { $0 == "/acme.crl" }.count == 3, "\(files.requestedPaths)")

        // One place: a second location waits for it until its deadline.
        var single = HTTPCRLDownloader.Configuration()
        single.requestTimeout = TestBudget.seconds(600)
        single.concurrentDownloads = 1
        let narrow = try HTTPCRLDownloader(configuration: single)
        defer { narrow.shutdown() }
        let hanging = await narrow.download([base + "/hang"], deadline: .now + .milliseconds(300))
        #expect(Self.failure(hanging[base + "/hang"])?.isTransient == true)
        let waited = Self.failure(await narrow.download([local], deadline: .now + .milliseconds(500))[local])
        #expect(waited?.description == "signet downloads at most 1 CRLs at once, and no place freed before the verification deadline; the next review tries again",
                "\(waited?.description ?? "")")
    }

    /// A redirect answered over plain HTTP may not turn signet from a distribution point outside
    /// towards this machine, a private network or a metadata service, by address or by a host
    /// name that resolves there: the address is judged as the connection is about to open, so
    /// nothing reaches it. A distribution point that is inside itself may redirect inside. Every
    /// server here is on 127.0.0.1, so the test tells inside from outside by port.
    @Test func aRedirectFromOutsideNeverConnectsInside() async throws {
        let served = TemporaryDirectory(prefix: "crl-server")
        let inside = try await StaticFileServer.start(serving: served.url)
        let signer = try await offThePool { try NotationTestSigner() }
        let bytes = try await offThePool { try signer.rootCRL(revoking: []) }
        try Data(bytes).write(to: served.file("acme.crl"))
        let port = FreePort.make()
        let redirects = [
            "/by-name": "http://localhost:\(inside.port)/acme.crl",
            "/by-address": "http://127.0.0.1:\(inside.port)/acme.crl",
            "/by-number": "http://2130706433:\(inside.port)/acme.crl",
            "/twice": "http://127.0.0.1:\(port)/by-name",
        ]
        let script = """
            import json, sys
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            redirects = json.loads(sys.argv[2])
            class Handler(BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(302)
                    self.send_header("Location", redirects.get(self.path, "/"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                def log_message(self, *args): pass
            ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
            """
        let mapping = String(decoding: try JSONSerialization.data(withJSONObject: redirects), as: UTF8.self)
        let server = try TestProcess("python3", ["-c", script, String(port), mapping])
        defer { server.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(port) })
        let outside = "http://127.0.0.1:\(port)"

        var configuration = HTTPCRLDownloader.Configuration()
        configuration.requestTimeout = TestBudget.seconds(600)
        let insidePort = inside.port
        configuration.isInternal = { _, port in port == insidePort }
        let downloader = try HTTPCRLDownloader(configuration: configuration)
        defer { downloader.shutdown() }
        for path in ["/by-name", "/by-address", "/by-number", "/twice"] {
            let failure = Self.failure(await downloader.download([outside + path], deadline: Self.deadline())[outside + path])
            let target = path == "/twice" ? redirects["/by-name"]! : redirects[path]!
            #expect(failure?.description == "HTTP status 302 redirects to \(target), which is at an internal address (this machine, a private network or a metadata service); signet does not follow a redirect from a distribution point outside to one inside",
                    "\(path): \(failure?.description ?? "")")
            #expect(failure?.isTransient == false)
        }
        #expect(inside.requestedPaths.isEmpty, "nothing reached the address inside: \(inside.requestedPaths)")

        // A distribution point inside that redirects outside gives the next redirect no trust of
        // its own: the server outside may not send signet back inside.
        let insidePoint = FreePort.make()
        let relay = try TestProcess("python3", ["-c", script, String(insidePoint),
                                                String(decoding: try JSONSerialization.data(withJSONObject: ["/to-outside": outside + "/by-name"]), as: UTF8.self)])
        defer { relay.terminate() }
        #expect(try await offThePool { FreePort.waitUntilListening(insidePoint) })
        var insideRelay = configuration
        insideRelay.isInternal = { _, port in port == insidePort || port == insidePoint }
        let relaying = try HTTPCRLDownloader(configuration: insideRelay)
        defer { relaying.shutdown() }
        let relayed = "http://127.0.0.1:\(insidePoint)/to-outside"
        let bounced = Self.failure(await relaying.download([relayed], deadline: Self.deadline())[relayed])
        #expect(bounced?.description.hasPrefix("HTTP status 302 redirects to \(redirects["/by-name"]!), which is at an internal address") == true, "\(bounced?.description ?? "")")
        #expect(inside.requestedPaths.isEmpty, "nothing reached the address inside: \(inside.requestedPaths)")

        // A distribution point inside (by the address that answered) may redirect inside.
        var bothInside = configuration
        bothInside.isInternal = { _, _ in true }
        let trusting = try HTTPCRLDownloader(configuration: bothInside)
        defer { trusting.shutdown() }
        let followed = outside + "/by-address"
        #expect(try await trusting.download([followed], deadline: Self.deadline())[followed]?.get().derEncoded == bytes)
        #expect(inside.requestedPaths == ["/acme.crl"], "\(inside.requestedPaths)")
    }

    /// Which addresses count as inside, whatever form the address takes.
    @Test func internalAddressesAreRecognisedInEveryForm() {
        for host in ["127.0.0.1", "2130706433", "0x7f.1", "0", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.100.100.200",
                     "[::1]", "::", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "[::ffff:169.254.169.254]", "64:ff9b::a9fe:a9fe",
                     "168.63.129.16", "198.18.0.1", "192.0.0.8", "224.0.0.1", "240.0.0.1", "64:ff9b:1::1", "2002:a00:1::1"] {
            #expect(HTTPCRLDownloader.isInternalAddress(host), "\(host)")
        }
        for host in ["8.8.8.8", "crl.example.com", "172.32.0.1", "100.128.0.1", "2001:db8::1", "[2606:4700::1]", "64:ff9b::808:808", "2002:808:808::1", "168.63.129.17"] {
            #expect(!HTTPCRLDownloader.isInternalAddress(host), "\(host)")
        }
        // Never reached by a redirect, even from a distribution point that is inside itself.
        for address in ["169.254.169.254", "100.100.100.200", "168.63.129.16", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254", "[fe80::1]",
                        "2002:a9fe:a9fe::1", "64:ff9b:1::a9fe:a9fe"] {
            #expect(HTTPCRLDownloader.isMetadataAddress(address), "\(address)")
        }
        for address in ["10.0.0.1", "127.0.0.1", "::1", "fd00::1", "100.100.100.201"] {
            #expect(!HTTPCRLDownloader.isMetadataAddress(address), "\(address)")
        }
    }
}
