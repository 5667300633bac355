import Foundation
import SignetRegistry

/// Small helpers for server-rendered HTML (HTML Living Standard §13): every text and attribute
/// value from outside goes through ``escape(_:)``; pages are complete documents that link only
/// first-party assets, so the console's Content-Security-Policy can forbid everything else.
enum HTML {
    /// `&`, `<`, `>`, `"` and `'` as character references: safe in text and quoted attributes.
    /// Read one Unicode scalar at a time (``UntrustedText/replacingScalars(_:_:)``): a quote
    /// followed by a combining mark is one Swift `Character` that is not equal to `"`, and yet a
    /// quote to the browser, which would end the attribute.
    static func escape(_ text: String) -> String {
        UntrustedText.replacingScalars(text) { scalar in
            switch scalar {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "\"": "&quot;"
            case "'": "&#39;"
            default: nil
            }
        }
    }

    /// Percent-encodes a query value (RFC 3986 §2.1, unreserved characters kept: ASCII letters
    /// and digits, `-._~`).
    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// A table: `headers` as `<th>`, each row's cells already HTML.
    static func table(_ headers: [String], _ rows: [[String]], id: String? = nil, empty: String = "nothing to show") -> String {
        var out = "<table\(id.map { " id=\"\($0)\"" } ?? "")><thead><tr>"
        out += headers.map { "<th>\(escape($0))</th>" }.joined()
        out += "</tr></thead><tbody>"
        if rows.isEmpty {
            out += "<tr class=\"empty\"><td colspan=\"\(headers.count)\">\(escape(empty))</td></tr>"
        }
        for row in rows { out += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>" }
        return out + "</tbody></table>"
    }

    /// A verdict as a labelled badge (`allow`, `deny`, `warn`, `audit`, `passed`, `failed`).
    static func badge(_ word: String) -> String {
        "<span class=\"badge badge-\(escape(word))\">\(escape(word))</span>"
    }

    static func passBadge(_ passed: Bool?) -> String {
        switch passed {
        case true?: badge("passed")
        case false?: badge("failed")
        case nil: badge("info")
        }
    }

    static func milliseconds(_ value: Double?) -> String {
        guard let value else { return "" }
        return String(format: value < 10 ? "%.2f ms" : "%.0f ms", value)
    }

    /// The page around `body`: navigation, the stylesheet, and the script only when asked for.
    static func page(title: String, active: String, user: String?, body: String, script: Bool = false) -> String {
        let links = [("Overview", "/"), ("Verify", "/verify"), ("History", "/history"), ("Policies", "/policies"), ("Help", "/help")]
        let navigation = links.map { name, href in
            "<a href=\"\(href)\"\(name == active ? " aria-current=\"page\"" : "")>\(name)</a>"
        }.joined(separator: " ")
        let account = user.map { "<span class=\"user\">\(escape($0))</span> <a href=\"/logout\">Sign out</a>" } ?? ""
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · signet console</title><link rel="stylesheet" href="/assets/console.css">\
            \(script ? "<script src=\"/assets/console.js\" defer></script>" : "")</head>
            <body><header><strong>signet</strong> <nav>\(navigation)</nav> <span class="account">\(account)</span></header>
            <main><h1>\(escape(title))</h1>
            \(body)
            </main></body></html>
            """
    }
}
