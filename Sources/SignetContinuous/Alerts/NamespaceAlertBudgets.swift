/// How many alerts each namespace may still send: a token bucket per namespace (a burst, then
/// one per interval), remembering how many it refused since the namespace's last alert so that
/// alert can say so. At most `capacity` namespaces are remembered: past it those whose bucket
/// is full again are forgotten (as good as new), and if none is, all are.
struct NamespaceAlertBudgets: Sendable {
    let burst: Double
    /// Tokens per second.
    let rate: Double
    let capacity: Int
    private var budgets: [String: (tokens: Double, at: ContinuousClock.Instant, refused: Int)] = [:]

    init(burst: Int, interval: Duration, capacity: Int) {
        self.burst = Double(max(1, burst))
        let seconds = Self.seconds(interval)
        rate = seconds > 0 ? 1 / seconds : .infinity
        self.capacity = max(1, capacity)
    }

    /// Takes a token of `namespace` at `instant`: nil when it has none, else how many alerts it
    /// was refused since its last one.
    mutating func take(_ namespace: String, at instant: ContinuousClock.Instant) -> Int? {
        if budgets.count >= capacity {
            budgets = budgets.filter { refilled($0.value.tokens, since: $0.value.at, at: instant) < burst }
            if budgets.count >= capacity { budgets.removeAll() }
        }
        var budget = budgets[namespace] ?? (burst, instant, 0)
        budget.tokens = refilled(budget.tokens, since: budget.at, at: instant)
        budget.at = instant
        guard budget.tokens >= 1 else {
            budget.refused += 1
            budgets[namespace] = budget
            return nil
        }
        budget.tokens -= 1
        let refused = budget.refused
        budget.refused = 0
        budgets[namespace] = budget
        return refused
    }

    private func refilled(_ tokens: Double, since: ContinuousClock.Instant, at instant: ContinuousClock.Instant) -> Double {
        let elapsed = max(0, Self.seconds(instant - since))
        return rate.isInfinite ? burst : min(burst, tokens + elapsed * rate)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
