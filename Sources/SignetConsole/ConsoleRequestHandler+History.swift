import Foundation
import SignetHTTP
import SignetHistory

/// The pages and `/api/` answers over the history store: the History page's stored decisions
/// (filters and paging), a decision's page, the Overview's charts.
extension ConsoleRequestHandler {
    func historyPage(_ request: HTTPRequest, user: String) async -> HTTPResponse {
        let rawValues = Dictionary(uniqueKeysWithValues: HistoryFilters.names.compactMap { name in request.queryValue(name).map { (name, $0) } })
        switch HistoryFilters.parse(request) {
        case .failure(let problem):
            return Self.page(400, title: "History", active: "History", user: user, body: HistoryPages.html(
                filters: nil, values: rawValues, page: nil, storeOn: history != nil, problem: problem.message), script: true)
        case .success(let filters):
            guard let history else {
                return Self.page(200, title: "History", active: "History", user: user, body: HistoryPages.html(
                    filters: filters, values: filters.values, page: nil, storeOn: false, problem: nil), script: true)
            }
            do {
                let page = try await history.query(filters.query)
                return Self.page(200, title: "History", active: "History", user: user, body: HistoryPages.html(
                    filters: filters, values: filters.values, page: page, storeOn: true, problem: nil), script: true)
            } catch {
                logger.warning("the console could not read the history", metadata: ["error": "\(error)"])
                return Self.page(503, title: "History", active: "History", user: user, body: HistoryPages.html(
                    filters: filters, values: filters.values, page: nil, storeOn: true,
                    problem: "the history store could not be read: \(error)"), script: true)
            }
        }
    }

    func decisionPage(_ id: String, user: String) async -> HTTPResponse {
        switch await storedEntry(id) {
        case .success(let entry):
            return Self.page(200, title: "Decision \(id)", active: "History", user: user, body: HistoryPages.detail(entry))
        case .failure(let failure):
            return Self.page(failure.status, title: "Decision", active: "History", user: user,
                             body: "<p class=\"error\" id=\"refusal\">\(HTML.escape(failure.message))</p><p><a href=\"/history\">History</a></p>")
        }
    }

    func overviewPage(_ request: HTTPRequest, user: String) async -> HTTPResponse {
        let now = clock()
        guard let range = OverviewPage.range(request.queryValue("range")) else {
            return Self.page(400, title: "Overview", active: "Overview", user: user,
                             body: "<p class=\"error\">range must be one of \(OverviewPage.ranges.map(\.name).joined(separator: ", "))</p>")
        }
        var overview: HistoryOverview?
        var problem: String?
        if let history {
            do {
                overview = try await history.overview(OverviewPage.query(range, now: now))
            } catch {
                logger.warning("the console could not read the history", metadata: ["error": "\(error)"])
                problem = "the history store could not be read: \(error)"
            }
        }
        return Self.page(problem == nil ? 200 : 503, title: "Overview", active: "Overview", user: user, body: OverviewPage.html(
            policies: policies(), runs: runner.recent(), now: now, range: range, overview: overview, storeOn: history != nil, problem: problem))
    }

    /// Why a stored entry cannot be shown: the status and the words.
    struct StoreFailure: Error {
        var status: Int
        var message: String
    }

    /// The entry `id` of the store: 404 when there is no store or no such entry, 503 when the
    /// store cannot be read.
    func storedEntry(_ id: String) async -> Result<HistoryEntry, StoreFailure> {
        guard let history else { return .failure(StoreFailure(status: 404, message: "no history store is configured")) }
        guard let number = Int64(id), number > 0 else { return .failure(StoreFailure(status: 404, message: "no decision \(id) (ids are numbers)")) }
        do {
            guard let entry = try await history.entry(id: number) else {
                return .failure(StoreFailure(status: 404, message: "no decision \(id) in the history (retention may have removed it)"))
            }
            return .success(entry)
        } catch {
            logger.warning("the console could not read the history", metadata: ["error": "\(error)"])
            return .failure(StoreFailure(status: 503, message: "the history store could not be read: \(error)"))
        }
    }

    /// `GET /api/history` (the History page's filters, `limit`, `cursor`) and `GET /api/history/{id}`.
    func historyAPI(_ request: HTTPRequest, id: String?) async -> HTTPResponse {
        if let id {
            switch await storedEntry(id) {
            case .success(let entry): return Self.json(200, entry)
            case .failure(let failure): return Self.json(failure.status, ["error": failure.message])
            }
        }
        let filters: HistoryFilters
        switch HistoryFilters.parse(request) {
        case .success(let parsed): filters = parsed
        case .failure(let problem): return Self.json(400, ["error": problem.message])
        }
        guard let history else { return Self.json(404, ["error": "no history store is configured"]) }
        struct Answer: Encodable {
            var entries: [HistoryEntry]
            var nextCursor: String?
            /// Set when the image filters searched a bounded window that ended before the page was full.
            var searchedThrough: Date?
        }
        do {
            let page = try await history.query(filters.query)
            return Self.json(200, Answer(entries: page.entries, nextCursor: page.nextCursor?.description, searchedThrough: page.searchedThrough))
        } catch {
            logger.warning("the console could not read the history", metadata: ["error": "\(error)"])
            return Self.json(503, ["error": "the history store could not be read: \(error)"])
        }
    }

    /// `GET /api/overview?range=`: the Overview page's charts as numbers.
    func overviewAPI(_ request: HTTPRequest) async -> HTTPResponse {
        guard let range = OverviewPage.range(request.queryValue("range")) else {
            return Self.json(400, ["error": "range must be one of \(OverviewPage.ranges.map(\.name).joined(separator: ", "))"])
        }
        guard let history else { return Self.json(404, ["error": "no history store is configured"]) }
        do {
            return Self.json(200, try await history.overview(OverviewPage.query(range, now: clock())))
        } catch {
            logger.warning("the console could not read the history", metadata: ["error": "\(error)"])
            return Self.json(503, ["error": "the history store could not be read: \(error)"])
        }
    }
}
