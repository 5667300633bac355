import Foundation
import SignetPolicy

/// The Verify and Trust chain pages (HTML, usable without script: a form, then a page per run
/// that refreshes itself while the run lasts; with script, stages arrive as server-sent events).
enum VerifyPages {
    static func form(csrf: String?, recent: [VerificationRun], message: String? = nil) -> String {
        var out = message.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? ""
        out += """
            <form method="post" action="/verify" class="verify">
            <label>Image <input name="image" id="image" required size="70" placeholder="registry.example/team/app:1.0"></label>
            <label>Namespace <input name="namespace" id="namespace" size="20" placeholder="(none)"></label>
            \(csrf.map { "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape($0))\">" } ?? "")
            <button type="submit" id="verify-button">Verify</button>
            </form>
            <p>The image is decided as a dry-run Pod in that namespace would be at admission: the same policies, \
            exceptions, bypasses and engine (and its cache). The result is kept in history when history is on.</p>
            <h2>Recent verifications</h2>
            """
        out += HTML.table(["Started", "Image", "By", "Verdict"], recent.reversed().map { run in
            [HTML.escape(PoliciesInForce.timestamp(run.startedAt)),
             "<a href=\"/verify/\(run.id)\">\(HTML.escape(run.image))</a>", HTML.escape(run.user),
             run.verdict.map { HTML.badge($0.outcome.rawValue) } ?? HTML.badge(run.state.rawValue)]
        }, empty: "none yet")
        return out
    }

    static func run(_ run: VerificationRun) -> String {
        var out = "<p>Image <code id=\"run-image\">\(HTML.escape(run.image))</code>"
        out += run.namespace.map { " in namespace <code>\(HTML.escape($0))</code>" } ?? ""
        out += ", asked by \(HTML.escape(run.user)) at \(HTML.escape(PoliciesInForce.timestamp(run.startedAt))).</p>"
        if let verdict = run.verdict {
            out += "<p class=\"verdict\" id=\"verdict\">\(HTML.badge(verdict.outcome.rawValue)) \(HTML.escape(verdict.reason))</p>"
            if let digest = run.digest {
                out += "<p>Digest <code id=\"digest\">\(HTML.escape(digest))</code> · <a href=\"/trust/\(run.id)\" id=\"trust-link\">Trust chain</a></p>"
            }
        } else {
            out += "<p class=\"verdict\" id=\"verdict\">\(HTML.badge("running")) deciding…</p>"
        }
        out += "<h2>Steps</h2>"
        out += HTML.table(["At", "Stage", "Check", "Result", "Detail", "Took"], run.events.map(row), id: "steps",
                          empty: "waiting for the first stage")
        if let verdict = run.verdict, !verdict.results.isEmpty {
            out += "<h2>Policies</h2>"
            out += HTML.table(["Policy", "Mode", "Passed", "Authorities"], verdict.results.map { result in
                [HTML.escape(result.policy), HTML.escape(result.mode.rawValue), HTML.passBadge(result.passed),
                 result.authorities.map { "\(HTML.escape($0.authority)): \(HTML.badge($0.status.rawValue)) \(HTML.escape($0.reason))" }
                    .joined(separator: "<br>")]
            })
        }
        return out
    }

    /// One stage as a table row; the script renders the same cells for stages that arrive live.
    static func row(_ event: VerificationRunEvent) -> [String] {
        [HTML.milliseconds(event.atMilliseconds), HTML.escape(event.stage.rawValue), HTML.escape(event.title),
         HTML.passBadge(event.passed), HTML.escape(event.detail), HTML.milliseconds(event.durationMilliseconds)]
    }

    static func trust(_ run: VerificationRun) -> String {
        let chains = TrustChain.chains(of: run)
        var out = "<p>Image <code>\(HTML.escape(run.image))</code>, digest <code>\(HTML.escape(run.digest ?? "none"))</code> "
        out += "(<a href=\"/verify/\(run.id)\">the verification</a>).</p>"
        if chains.isEmpty {
            out += "<p class=\"error\">No authority verified a digest of this image: there is no chain to show.</p>"
        }
        for chain in chains {
            out += "<section class=\"chain\"><h2>\(HTML.escape(chain.policy)) / \(HTML.escape(chain.authority)) <small>\(HTML.escape(chain.format))</small></h2>"
            out += "<figure>\(chain.svg)</figure>"
            out += "<h3>As text</h3><pre class=\"chain-text\">\(HTML.escape(chain.text))</pre></section>"
        }
        return out
    }
}
