import SignetHTTP

/// Feeds `bytes` to a parser in pieces of `pieceSize` and collects every event other than
/// `needMoreData`, stopping after a failure.
func parseEvents(
    _ bytes: [UInt8],
    pieceSize: Int = Int.max,
    limits: HTTPParserLimits = HTTPParserLimits()
) -> [HTTPParserEvent] {
    var parser = HTTPRequestParser(limits: limits)
    return parseEvents(bytes, pieceSize: pieceSize, with: &parser)
}

func parseEvents(_ bytes: [UInt8], pieceSize: Int = Int.max, with parser: inout HTTPRequestParser) -> [HTTPParserEvent] {
    var events: [HTTPParserEvent] = []
    var offset = 0
    repeat {
        let end = min(bytes.count, offset + min(pieceSize, bytes.count - offset))
        parser.append(bytes[offset..<end])
        offset = end
        drain: while true {
            let event = parser.next()
            switch event {
            case .needMoreData:
                break drain
            case .failure:
                events.append(event)
                return events
            case .continueExpected, .request:
                events.append(event)
            }
        }
    } while offset < bytes.count
    return events
}

func parseEvents(_ text: String, pieceSize: Int = Int.max, limits: HTTPParserLimits = HTTPParserLimits())
    -> [HTTPParserEvent]
{
    parseEvents(Array(text.utf8), pieceSize: pieceSize, limits: limits)
}

extension HTTPParserEvent {
    var request: HTTPRequest? {
        if case .request(let request) = self { request } else { nil }
    }

    var failure: HTTPParseError? {
        if case .failure(let error) = self { error } else { nil }
    }

    var isContinueExpected: Bool {
        if case .continueExpected = self { true } else { false }
    }

    var isNeedMoreData: Bool {
        if case .needMoreData = self { true } else { false }
    }
}

extension Array where Element == HTTPParserEvent {
    var requests: [HTTPRequest] { compactMap(\.request) }
    var failure: HTTPParseError? { last?.failure }
}
