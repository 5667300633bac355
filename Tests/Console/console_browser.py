#!/usr/bin/env python3
"""Drives the signet console in headless Chromium over the DevTools protocol.

Signs in through the login form with a Kubernetes token, loads every page, submits the verify
form for a signed and an unsigned image, opens the trust chain, and measures how long a new
admission decision takes to reach an open History page (server-sent events): the page stamps
each row with the server's decision time and its own arrival time, both milliseconds since the
epoch on this machine. Then filters the stored history with its GET form, opens a decision's
page, pages through the history by its links, and reads the Overview's charts. Screenshots go
to --out. Prints one JSON object on its last line.
"""
import argparse, json, os, shutil, socket, ssl, subprocess, sys, tempfile, time, urllib.request
import websocket  # websocket-client (make deps installs it)

parser = argparse.ArgumentParser()
parser.add_argument("--console", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--signed", required=True)
parser.add_argument("--unsigned", required=True)
parser.add_argument("--webhook", required=True)
parser.add_argument("--ca", required=True)
parser.add_argument("--review", required=True, help="AdmissionReview file whose decision the History page must show")
parser.add_argument("--review-uid", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

profile = tempfile.mkdtemp(prefix="signet-chromium-")
port = free_port()
chromium = subprocess.Popen([
    shutil.which("chromium") or "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
    "--ignore-certificate-errors", "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
    f"--remote-debugging-port={port}", "--remote-allow-origins=*", "--window-size=1400,1000", "about:blank",
], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(1)

try:
    deadline = time.time() + 60
    target = None
    while time.time() < deadline and target is None:
        try:
            pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
            target = next(p for p in pages if p.get("type") == "page")
        except Exception:
            time.sleep(0.2)
    if target is None:
        fail("chromium did not start")

    class Tab:
        def __init__(self, url):
            self.ws = websocket.create_connection(url, timeout=60)
            self.next = 0
            self.events = []
            self.call("Page.enable")
            self.call("Runtime.enable")

        def call(self, method, **params):
            self.next += 1
            ident = self.next
            self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                message = json.loads(self.ws.recv())
                if message.get("id") == ident:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message.get("result", {})
                self.events.append(message)

        # What Chromium answers when a page navigates (the verify page reloads itself while a
        # verification runs) between a poll being sent and evaluated: the next poll sees the new page.
        NAVIGATING = ("Inspected target navigated or closed", "Execution context was destroyed",
                      "Cannot find context with specified id")

        def poll(self, expression):
            try:
                return self.eval(expression)
            except RuntimeError as error:
                if any(text in str(error) for text in self.NAVIGATING):
                    return None
                raise

        def wait_load(self, timeout=60):
            end = time.time() + timeout
            while time.time() < end:
                if self.poll("document.readyState") == "complete":
                    return
                time.sleep(0.05)
            raise RuntimeError("page did not load")

        def go(self, url):
            self.call("Page.navigate", url=url)
            time.sleep(0.1)
            self.wait_load()

        def eval(self, expression):
            result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
            if "exceptionDetails" in result:
                raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
            return result.get("result", {}).get("value")

        def wait_for(self, expression, timeout=60):
            end = time.time() + timeout
            while time.time() < end:
                value = self.poll(expression)
                if value:
                    return value
                time.sleep(0.05)
            raise RuntimeError(f"never true: {expression}; page: {self.eval('document.body.innerText')[:2000]}")

        def shot(self, name):
            import base64
            height = self.eval("Math.min(4000, document.documentElement.scrollHeight)") or 1000
            self.call("Emulation.setDeviceMetricsOverride", width=1400, height=int(height), deviceScaleFactor=1, mobile=False)
            data = self.call("Page.captureScreenshot", format="png")["data"]
            path = os.path.join(args.out, name + ".png")
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))
            self.call("Emulation.clearDeviceMetricsOverride")
            return path

    tab = Tab(target["webSocketDebuggerUrl"])
    console = args.console
    result = {"pages": {}, "screenshots": []}

    # Without a session: the login form.
    tab.go(console + "/policies")
    result["unauthenticated"] = tab.eval("document.querySelector('#token') !== null")
    tab.eval(f"document.querySelector('#token').value = {json.dumps(args.token)}")
    tab.eval("document.querySelector('#sign-in').click()")
    tab.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    result["signedIn"] = tab.eval("document.querySelector('.user') && document.querySelector('.user').textContent")
    result["cookieVisibleToScript"] = tab.eval("document.cookie.includes('__Host-signet-console-token')")

    for name, path in [("overview", "/"), ("policies", "/policies"), ("help", "/help"), ("verify", "/verify"), ("history", "/history")]:
        tab.go(console + path)
        result["pages"][name] = {"title": tab.eval("document.title"), "h1": tab.eval("document.querySelector('h1').textContent"),
                                 "text": tab.eval("document.querySelector('main').innerText")[:4000]}
        result["screenshots"].append(tab.shot(name))

    def verify(image, shot):
        tab.go(console + "/verify")
        tab.eval(f"document.querySelector('#image').value = {json.dumps(image)}")
        started = time.time()
        tab.eval("document.querySelector('#verify-button').click()")
        tab.wait_for("location.pathname.startsWith('/verify/') && document.readyState === 'complete'")
        tab.wait_for("document.querySelector('#verdict .badge') !== null && document.querySelector('#verdict .badge-running') === null", timeout=90)
        tab.wait_load()
        seconds = time.time() - started
        run = {
            "verdict": tab.eval("document.querySelector('#verdict').innerText"),
            "steps": tab.eval("Array.from(document.querySelectorAll('#steps tbody tr')).map(r => r.innerText)"),
            "digest": tab.eval("document.querySelector('#digest') && document.querySelector('#digest').textContent"),
            "trustLink": tab.eval("document.querySelector('#trust-link') && document.querySelector('#trust-link').getAttribute('href')"),
            "seconds": seconds,
        }
        result["screenshots"].append(tab.shot(shot))
        return run

    result["signed"] = verify(args.signed, "verify-signed")
    result["unsigned"] = verify(args.unsigned, "verify-unsigned")
    if result["signed"]["trustLink"]:
        tab.go(console + result["signed"]["trustLink"])
        result["trust"] = {
            "svgBoxes": tab.eval("document.querySelectorAll('svg.chain rect').length"),
            "text": tab.eval("Array.from(document.querySelectorAll('pre.chain-text')).map(p => p.textContent).join('\\n')"),
        }
        result["screenshots"].append(tab.shot("trust-chain"))

    # An open History page receives a new decision through server-sent events.
    tab.go(console + "/history")
    tab.wait_for("Boolean(document.body.dataset.feedOpen)")
    posted = time.time() * 1000
    review = subprocess.run(["curl", "-sS", "--cacert", args.ca, "-H", "Content-Type: application/json", "--data-binary",
                             "@" + args.review, args.webhook + "/validate"], capture_output=True, text=True, timeout=60)
    if review.returncode != 0:
        fail("review failed: " + review.stderr)
    uid = json.dumps(args.review_uid)
    tab.wait_for(f"document.querySelector('#decisions tr[data-uid=' + JSON.stringify({uid}) + ']') !== null", timeout=30)
    row = tab.eval(f"(function() {{ var r = document.querySelector('#decisions tr[data-uid=' + JSON.stringify({uid}) + ']'); "
                   "return {decided: Number(r.dataset.decided), received: Number(r.dataset.received), text: r.innerText}; })()")
    result["history"] = {"decidedToShownMs": row["received"] - row["decided"], "postedToShownMs": row["received"] - posted,
                         "row": row["text"]}
    result["screenshots"].append(tab.shot("history-live"))

    # The stored history, without script: the GET form filters, pages follow links, a row opens
    # the decision's page. The store is written off the admission path: reload (bounded) until
    # the decision is there.
    def rows():
        return tab.eval("Array.from(document.querySelectorAll('#history tbody tr')).map(r => r.innerText)")
    tab.go(console + "/history")
    tab.eval("document.querySelector('#filter-namespace').value = 'team-a'")
    tab.eval("document.querySelector('#filter-source').value = 'admission'")
    tab.eval("document.querySelector('#filter-button').click()")
    tab.wait_for("location.search.includes('namespace=team-a') && document.readyState === 'complete'")
    filtered_url = tab.eval("location.href")
    end = time.time() + 60
    while not any("team-a/live" in row for row in rows()) and time.time() < end:
        time.sleep(0.2)
        tab.go(filtered_url)
    result["historyFiltered"] = {"url": tab.eval("location.pathname + location.search"), "rows": rows(),
                                 "form": tab.eval("document.querySelector('#filter-namespace').value")}
    result["screenshots"].append(tab.shot("history"))
    tab.eval("document.querySelector('#history a.decision-link').click()")
    tab.wait_for("/^\\/history\\/[0-9]+$/.test(location.pathname) && document.querySelector('dl.decision') !== null")
    result["decision"] = {
        "path": tab.eval("location.pathname"),
        "source": tab.eval("document.querySelector('#decision-source').textContent"),
        "user": tab.eval("document.querySelector('#decision-user').textContent"),
        "dryRun": tab.eval("document.querySelector('#decision-dry-run').textContent"),
        "latency": tab.eval("document.querySelector('#decision-latency').textContent"),
        "reason": tab.eval("document.querySelector('#image-0-reason').textContent"),
        "policies": tab.eval("document.querySelector('#image-0-policies') && document.querySelector('#image-0-policies').textContent"),
    }
    result["screenshots"].append(tab.shot("history-decision"))

    # Paging: one decision a page, the next page by its link, back to the first.
    tab.go(console + "/history?limit=1")
    first_page = rows()
    tab.eval("document.querySelector('#next-page').click()")
    tab.wait_for("location.search.includes('cursor=') && document.readyState === 'complete'")
    result["paging"] = {"first": first_page, "second": rows(),
                        "firstLink": tab.eval("document.querySelector('#first-page') !== null")}

    # The Overview's charts, drawn by the server.
    tab.go(console + "/")
    result["overview"] = {"charts": tab.eval("Array.from(document.querySelectorAll('svg.chart')).map(s => s.id)"),
                          "totals": tab.eval("document.querySelector('#overview-totals') && document.querySelector('#overview-totals').textContent"),
                          "refused": tab.eval("Array.from(document.querySelectorAll('#top-refused tbody tr')).map(r => r.innerText)")}
    result["screenshots"].append(tab.shot("overview-charts"))
    print(json.dumps(result))
finally:
    chromium.terminate()
    try:
        chromium.wait(timeout=10)
    except subprocess.TimeoutExpired:
        chromium.kill()
    shutil.rmtree(profile, ignore_errors=True)
