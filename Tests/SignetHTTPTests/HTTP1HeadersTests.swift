import SignetHTTP
import Testing

@Suite("HTTP header fields")
struct HTTP1HeadersTests {
    @Test func lookupsIgnoreCase() {
        let headers = HTTPHeaders([("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")])
        #expect(headers["content-type"] == "application/json")
        #expect(headers["X-A"] == "1")
        #expect(headers.values(for: "X-a") == ["1", "2"])
        #expect(headers.contains("CONTENT-TYPE"))
        #expect(!headers.contains("Content"))
        #expect(headers["Content-Typ"] == nil)
        #expect(headers.count == 3)
    }

    @Test func iterationKeepsOrderAndSpelling() {
        var headers = HTTPHeaders()
        headers.add(name: "B", value: "1")
        headers.add(name: "a", value: "2")
        headers.add(name: "b", value: "3")
        #expect(headers.map(\.name) == ["B", "a", "b"])
        #expect(headers.map(\.value) == ["1", "2", "3"])
    }

    @Test func replaceOrAddKeepsThePositionOfTheFirst() {
        var headers = HTTPHeaders([("X-A", "1"), ("Y", "y"), ("x-a", "2")])
        headers.replaceOrAdd(name: "x-A", value: "3")
        #expect(headers == HTTPHeaders([("X-A", "3"), ("Y", "y")]))
        headers.replaceOrAdd(name: "Z", value: "z")
        #expect(headers == HTTPHeaders([("X-A", "3"), ("Y", "y"), ("Z", "z")]))
    }

    @Test func removeDropsEveryLine() {
        var headers: HTTPHeaders = ["X-A": "1", "Y": "y"]
        headers.add(name: "x-a", value: "2")
        headers.remove(name: "X-a")
        #expect(headers == HTTPHeaders([("Y", "y")]))
        #expect(!headers.contains("x-a"))
    }

    @Test func tokens() {
        let headers = HTTPHeaders([("Connection", "Keep-Alive, , Upgrade "), ("connection", "close")])
        #expect(headers.tokens(for: "connection") == ["keep-alive", "upgrade", "close"])
        #expect(headers.containsToken("UPGRADE", in: "Connection"))
        #expect(!headers.containsToken("keep", in: "Connection"))
    }
}
