import Foundation

/// A small time-series chart drawn by the server as SVG 1.1 (bars or lines over equal time
/// buckets), with presentation attributes only, so the console's Content-Security-Policy needs
/// no inline style, and no external asset. Each bar or point carries a `<title>` with its value,
/// which browsers show on hover without script.
struct SVGChart {
    /// One series: a name for the legend, a colour, and a value per bucket (nil: no value there).
    struct Series {
        var name: String
        var colour: String
        var values: [Double?]
    }

    enum Kind {
        /// Bars side by side per bucket (series drawn over each other, the first behind).
        case bars
        /// A polyline per series through the buckets that have a value.
        case lines
    }

    var id: String
    var title: String
    var kind: Kind
    /// A label per bucket (its start time); the first, middle and last are written under the axis.
    var labels: [String]
    var series: [Series]
    /// The top of the axis; nil: the largest value (at least 1).
    var maximum: Double?
    /// Writes a value for the axis and the titles.
    var format: (Double) -> String

    static let width = 520, height = 220
    static let left = 56, right = 12, top = 30, bottom = 34

    var svg: String {
        let plotWidth = Self.width - Self.left - Self.right, plotHeight = Self.height - Self.top - Self.bottom
        let count = max(labels.count, 1)
        let largest = series.flatMap { $0.values.compactMap { $0 } }.max() ?? 0
        // Counts (bars) get an even top, so the middle line is a whole number too.
        let top = maximum ?? (kind == .bars ? max(2, (largest / 2).rounded(.up) * 2) : max(largest, 1))
        func x(_ index: Int) -> Double { Double(Self.left) + (Double(index) + 0.5) * Double(plotWidth) / Double(count) }
        func y(_ value: Double) -> Double { Double(Self.top + plotHeight) - min(value / top, 1) * Double(plotHeight) }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }

        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"\(HTML.escape(id))\" role=\"img\" width=\"\(Self.width)\" height=\"\(Self.height)\" viewBox=\"0 0 \(Self.width) \(Self.height)\">"
        out += "<title>\(HTML.escape(title))</title>"
        out += "<text x=\"\(Self.left)\" y=\"16\" font-family=\"sans-serif\" font-size=\"13\" font-weight=\"bold\" fill=\"#111\">\(HTML.escape(title))</text>"
        // Legend, right-aligned on the title line.
        var legendX = Self.width - Self.right
        for item in series.reversed() {
            legendX -= 12 + 7 * item.name.count
            out += "<rect x=\"\(legendX)\" y=\"7\" width=\"9\" height=\"9\" fill=\"\(item.colour)\"/>"
            out += "<text x=\"\(legendX + 12)\" y=\"15\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\(HTML.escape(item.name))</text>"
            legendX -= 8
        }
        // Axis and grid: 0, half, top.
        for fraction in [0.0, 0.5, 1.0] {
            let value = top * fraction, lineY = number(y(value))
            out += "<line x1=\"\(Self.left)\" y1=\"\(lineY)\" x2=\"\(Self.width - Self.right)\" y2=\"\(lineY)\" stroke=\"#e2e8f0\" stroke-width=\"1\"/>"
            out += "<text x=\"\(Self.left - 6)\" y=\"\(number(y(value) + 4))\" text-anchor=\"end\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#555\">\(HTML.escape(format(value)))</text>"
        }
        out += "<line x1=\"\(Self.left)\" y1=\"\(Self.top + plotHeight)\" x2=\"\(Self.width - Self.right)\" y2=\"\(Self.top + plotHeight)\" stroke=\"#555\" stroke-width=\"1\"/>"
        for index in Set([0, count / 2, count - 1]).sorted() where index < labels.count {
            let anchor = index == 0 ? "start" : index == count - 1 ? "end" : "middle"
            let labelX = index == 0 ? Double(Self.left) : index == count - 1 ? Double(Self.width - Self.right) : x(index)
            out += "<text x=\"\(number(labelX))\" y=\"\(Self.height - 12)\" text-anchor=\"\(anchor)\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#555\">\(HTML.escape(labels[index]))</text>"
        }
        switch kind {
        case .bars:
            let slot = Double(plotWidth) / Double(count)
            let barWidth = max(1, slot * 0.8 / Double(max(series.count, 1)))
            for (position, item) in series.enumerated() {
                for (index, value) in item.values.enumerated() {
                    guard let value, value > 0 else { continue }
                    let barX = Double(Self.left) + Double(index) * slot + slot * 0.1 + Double(position) * barWidth
                    out += "<rect class=\"bar\" x=\"\(number(barX))\" y=\"\(number(y(value)))\" width=\"\(number(barWidth))\" height=\"\(number(Double(Self.top + plotHeight) - y(value)))\" fill=\"\(item.colour)\">"
                    out += "<title>\(HTML.escape("\(item.name) \(labels[safe: index] ?? ""): \(format(value))"))</title></rect>"
                }
            }
        case .lines:
            for item in series {
                let points = item.values.enumerated().compactMap { index, value in value.map { (index, $0) } }
                if points.count > 1 {
                    let path = points.map { "\(number(x($0.0))),\(number(y($0.1)))" }.joined(separator: " ")
                    out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(item.colour)\" stroke-width=\"2\"/>"
                }
                for (index, value) in points {
                    out += "<circle class=\"point\" cx=\"\(number(x(index)))\" cy=\"\(number(y(value)))\" r=\"3\" fill=\"\(item.colour)\">"
                    out += "<title>\(HTML.escape("\(item.name) \(labels[safe: index] ?? ""): \(format(value))"))</title></circle>"
                }
            }
        }
        return out + "</svg>"
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
