import Foundation
import SignetHTTP

/// The JSON API under `/api/` (documented in the README, "The console"): the data of the pages.
extension ConsoleRequestHandler {
    func respondToAPI(_ request: HTTPRequest, caller: Caller, parts: [String]) async -> HTTPResponse {
        switch (request.method, parts.first ?? "", parts.count) {
        case ("GET", "whoami", 1):
            return Self.json(200, caller.user)
        case ("GET", "policies", 1):
            return Self.json(200, PoliciesInForce(policies(), now: clock()))
        case ("GET", "verifications", 1):
            return Self.json(200, runner.recent().reversed().map { $0 })
        case ("POST", "verifications", 1):
            struct Asked: Decodable {
                var image: String
                var namespace: String?
            }
            guard let asked = try? JSONDecoder().decode(Asked.self, from: Data(request.body)), !asked.image.isEmpty else {
                return Self.json(400, ["error": #"the body must be a JSON object {"image": "...", "namespace": "..."}"#])
            }
            if let problem = VerificationRunner.problem(image: asked.image, namespace: asked.namespace) {
                return Self.json(400, ["error": problem])
            }
            if let namespace = asked.namespace, let refusal = await refusal(creatingPodsIn: namespace, caller: caller, api: true) {
                return refusal
            }
            guard let id = runner.start(image: asked.image, namespace: asked.namespace, user: caller.user.username) else {
                var busy = Self.json(429, ["error": Self.busyMessage(runner)])
                busy.headers.add(name: "Retry-After", value: "5")
                return busy
            }
            for await _ in runner.updates(of: id) {}
            guard let run = runner.run(id) else { return Self.json(500, ["error": "the verification was not kept"]) }
            return Self.json(200, run)
        case ("GET", "verifications", 2):
            guard let run = runner.run(parts[1]) else { return Self.json(404, ["error": "no verification \(parts[1])"]) }
            return Self.json(200, run)
        case ("GET", "trust", 2):
            guard let run = runner.run(parts[1]) else { return Self.json(404, ["error": "no verification \(parts[1])"]) }
            return Self.json(200, TrustChain.chains(of: run))
        case ("GET", "trust", 1):
            guard let digest = request.queryValue("digest"), let run = runner.latest(digest: digest) else {
                return Self.json(404, ["error": "no verification of that digest is kept"])
            }
            return Self.json(200, TrustChain.chains(of: run))
        case ("GET", "history", 1):
            return await historyAPI(request, id: nil)
        case ("GET", "history", 2):
            return await historyAPI(request, id: parts[1])
        case ("GET", "overview", 1):
            return await overviewAPI(request)
        case ("GET", "help", 1):
            return Self.json(200, HelpPage.entries.map { ["term": $0.term, "meaning": $0.meaning, "action": $0.action] })
        default:
            return Self.json(404, ["error": "no API endpoint \(request.method) \(request.path)"])
        }
    }
}
