/// The console's only assets, served by signet itself under `/assets/`: a stylesheet and a
/// small script for live updates (server-sent events, HTML Living Standard §9.2). Every page
/// works without the script; it only adds rows as they happen.
enum ConsoleAssets {
    static let stylesheet = """
        body{font-family:system-ui,sans-serif;margin:0;color:#111;background:#fafafa}
        header{background:#1e293b;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center}
        header a{color:#cbd5e1;margin-right:1em;text-decoration:none}header a[aria-current]{color:#fff;font-weight:bold}
        .account{margin-left:auto}.user{color:#fff}
        main{padding:1em 2em;max-width:1400px}
        table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em;background:#fff}
        th,td{border:1px solid #e2e8f0;padding:.35em .5em;text-align:left;vertical-align:top;font-size:.9em}
        th{background:#f1f5f9}tr.empty td{color:#64748b;font-style:italic}
        code,pre{font-family:ui-monospace,monospace;font-size:.85em}pre{white-space:pre-wrap;margin:0}
        pre.chain-text{background:#fff;border:1px solid #e2e8f0;padding:.7em}
        .badge{display:inline-block;padding:.05em .45em;border-radius:.3em;font-size:.8em;font-weight:bold;background:#e2e8f0}
        .badge-allow,.badge-passed,.badge-enforce{background:#dcfce7;color:#14532d}
        .badge-deny,.badge-failed,.badge-error{background:#fee2e2;color:#7f1d1d}
        .badge-warn,.badge-audit,.badge-running{background:#fef9c3;color:#713f12}
        .unknown-sender{padding:.05em .35em;border:1px solid #b45309;border-radius:.3em;color:#92400e}
        .error{color:#b91c1c}.expired{color:#b91c1c}.left{color:#15803d}
        form.verify,form.filters{display:flex;gap:1em;flex-wrap:wrap;align-items:end;margin:1em 0}
        label{display:flex;flex-direction:column;font-size:.85em;gap:.2em}
        input,select,button{font-size:1em;padding:.3em}button{cursor:pointer}
        dl.help dt{font-weight:bold;margin-top:.8em}dl.help dd{margin-left:1em}
        .charts{display:flex;flex-wrap:wrap;gap:1.5em}.charts figure{margin:0;background:#fff;border:1px solid #e2e8f0;padding:.5em}
        tr.fresh td{background:#fef9c3}
        dl.decision,section.image dl{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em;background:#fff;border:1px solid #e2e8f0;padding:.7em}
        dl dt{font-weight:bold}dl dd{margin:0;overflow-wrap:anywhere}
        section.image h3{margin:1em 0 .4em}p.paging,p.ranges{font-size:.95em}
        svg.chart{display:block}
        """

    /// Live updates: on a verification page, each stage as it is reported; on the History page,
    /// each new decision on top of the table. Each row records when it arrived (`data-received`)
    /// beside the server's time of the decision (`data-decided`), both milliseconds since the epoch.
    static let script = """
        "use strict";
        (function () {
          function cell(row, html) { var td = document.createElement("td"); td.innerHTML = html; row.appendChild(td); }
          var steps = document.getElementById("steps");
          if (steps && steps.dataset.live) {
            var source = new EventSource(steps.dataset.live);
            source.addEventListener("stage", function (message) {
              var data = JSON.parse(message.data);
              var body = steps.tBodies[0];
              var empty = body.querySelector("tr.empty"); if (empty) { empty.remove(); }
              var row = document.createElement("tr");
              data.cells.forEach(function (html) { cell(row, html); });
              row.dataset.received = String(Date.now());
              body.appendChild(row);
              if (data.stage === "decision") { source.close(); setTimeout(function () { location.reload(); }, 150); }
            });
            source.addEventListener("end", function () { source.close(); location.reload(); });
          }
          var history = document.getElementById("decisions");
          if (history && history.dataset.live) {
            var feed = new EventSource(history.dataset.live);
            feed.addEventListener("decision", function (message) {
              var data = JSON.parse(message.data);
              var body = history.tBodies[0];
              var empty = body.querySelector("tr.empty"); if (empty) { empty.remove(); }
              var row = document.createElement("tr");
              row.className = "fresh";
              data.cells.forEach(function (html) { cell(row, html); });
              row.dataset.decided = String(data.decidedAt);
              row.dataset.received = String(Date.now());
              row.dataset.uid = data.uid;
              body.insertBefore(row, body.firstChild);
              var count = document.getElementById("live-count");
              if (count) { count.textContent = String(Number(count.textContent) + 1); }
            });
            document.body.dataset.feed = "open";
            feed.onopen = function () { document.body.dataset.feedOpen = String(Date.now()); };
          }
        })();
        """
}
