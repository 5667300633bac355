import CSignetSystem
import Foundation

/// How many CPUs this process can use at once: the CPUs its affinity mask allows
/// (sched_getaffinity(2): a cpuset, Kubernetes' static CPU manager) and the CPU quota of its
/// control group, rounded up (cgroup v2 `cpu.max`, Linux Documentation/admin-guide/cgroup-v2.rst
/// "CPU Interface Files"; cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`,
/// Documentation/scheduler/sched-bwc.rst), the smallest quota of the group and of the ancestors
/// visible under its mount.
///
/// A container with `resources.limits.cpu: 2` on a 64-core node sees 64 online processors; eight
/// event loops there take turns in two CPUs' worth of time and are throttled, where two would not.
public struct CPUBudget: Sendable, Equatable {
    /// CPUs in the affinity mask (the online processors when it cannot be read).
    public var affinityCPUs: Int
    /// The control group's quota in CPUs (quota / period), nil without one.
    public var quotaCPUs: Double?

    /// Whole CPUs: the affinity count, lowered to the quota rounded up; at least 1.
    public var usableCPUs: Int {
        var count = affinityCPUs
        // Compared as a Double: a quota far above any CPU count never becomes an Int.
        if let quotaCPUs, quotaCPUs.rounded(.up) < Double(count) { count = Int(quotaCPUs.rounded(.up)) }
        return max(1, count)
    }

    /// The budget of this process, read from the kernel.
    public static func current() -> CPUBudget {
        let affinity = Int(signet_affinity_cpu_count())
        let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        // Never above the online count (LXCFS can show a container fewer online processors
        // than its mask holds).
        return CPUBudget(
            affinityCPUs: affinity > 0 ? min(affinity, online) : online,
            quotaCPUs: quota(readFile: { try? String(contentsOfFile: $0, encoding: .utf8) }))
    }

    /// The smallest quota over the cgroup v2 group of this process and the ancestors visible
    /// under its mount, or else over its cgroup v1 `cpu` group and such ancestors (in a cgroup
    /// namespace, the Kubernetes default with v2, that is the container's own group);
    /// `readFile` reads a file of /proc or /sys.
    static func quota(readFile: (String) -> String?) -> Double? {
        guard let membership = readFile("/proc/self/cgroup"), let mounts = readFile("/proc/self/mountinfo") else { return nil }
        let mountList = mounts.split(separator: "\n").compactMap { CgroupMount(mountinfoLine: $0) }
        let groups = membership.split(separator: "\n").compactMap { CgroupMembership(line: $0) }
        if let group = groups.first(where: { $0.hierarchyID == "0" }),
            let quota = smallestQuota(group: group.path, mounts: mountList.filter(\.version2), version2: true, readFile: readFile)
        {
            return quota
        }
        if let group = groups.first(where: { $0.controllers.contains("cpu") }) {
            let mounts = mountList.filter { !$0.version2 && $0.controllers.contains("cpu") }
            return smallestQuota(group: group.path, mounts: mounts, version2: false, readFile: readFile)
        }
        return nil
    }

    /// Walks from the group's folder up to the mount point, keeping the smallest quota found,
    /// in the first of `mounts` whose root holds the group (the hierarchy can be mounted more
    /// than once, a host's bind-mounted beside the container's own).
    private static func smallestQuota(group: String, mounts: [CgroupMount], version2: Bool, readFile: (String) -> String?) -> Double? {
        // The group's path is relative to the hierarchy's root; a mount shows the hierarchy
        // from `mount.root` on (in a cgroup namespace both are "/"). A group outside the
        // namespace's root is written with `..`: it is not under any mount, so no quota is read.
        guard !group.split(separator: "/").contains(".."),
            let (mount, relative) = mounts.lazy.compactMap({ mount in relativePath(group, under: mount.root).map { (mount, $0) } }).first
        else { return nil }
        var components = relative.split(separator: "/").map(String.init)
        var smallest: Double?
        while true {
            let folder = ([mount.mountPoint] + components).joined(separator: "/")
            let quota = version2 ? v2Quota(folder: folder, readFile: readFile) : v1Quota(folder: folder, readFile: readFile)
            if let quota { smallest = min(smallest ?? quota, quota) }
            if components.isEmpty { break }
            components.removeLast()
        }
        return smallest
    }

    private static func relativePath(_ path: String, under root: String) -> String? {
        if root == "/" { return path }
        if path == root { return "" }
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count)) : nil
    }

    /// `cpu.max`: `max 100000` (no limit) or `150000 100000` (1.5 CPUs).
    static func v2Quota(folder: String, readFile: (String) -> String?) -> Double? {
        guard let text = readFile(folder + "/cpu.max") else { return nil }
        return ratio(text.split(whereSeparator: \.isWhitespace).map(String.init))
    }

    /// `cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`.
    static func v1Quota(folder: String, readFile: (String) -> String?) -> Double? {
        guard let quota = readFile(folder + "/cpu.cfs_quota_us"), let period = readFile(folder + "/cpu.cfs_period_us") else { return nil }
        return ratio([quota.trimmingCharacters(in: .whitespacesAndNewlines), period.trimmingCharacters(in: .whitespacesAndNewlines)])
    }

    /// Quota over period, from the two fields; nil for `max`, `-1` or anything not positive.
    private static func ratio(_ fields: [String]) -> Double? {
        guard fields.count == 2, let quota = Int64(fields[0]), let period = Int64(fields[1]), quota > 0, period > 0 else { return nil }
        return Double(quota) / Double(period)
    }
}

/// One line of /proc/self/cgroup (cgroups(7)): `hierarchy-ID:controller-list:cgroup-path`.
struct CgroupMembership {
    var hierarchyID: String
    var controllers: [String]
    var path: String

    init?(line: Substring) {
        let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, fields[2].hasPrefix("/") else { return nil }
        hierarchyID = String(fields[0])
        controllers = fields[1].split(separator: ",").map(String.init)
        path = String(fields[2])
    }
}

/// A cgroup mount from /proc/self/mountinfo (proc(5)): its root within the hierarchy, where it is
/// mounted, and for cgroup v1 the controllers of its hierarchy (from the super options).
struct CgroupMount {
    var root: String
    var mountPoint: String
    var version2: Bool
    var controllers: [String]

    init?(mountinfoLine line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let separator = fields.firstIndex(of: "-"), fields.count > separator + 3, separator >= 6 else { return nil }
        let type = fields[separator + 1]
        guard type == "cgroup" || type == "cgroup2" else { return nil }
        root = Self.unescaped(fields[3])
        mountPoint = Self.unescaped(fields[4])
        version2 = type == "cgroup2"
        controllers = version2 ? [] : fields[separator + 3].split(separator: ",").map(String.init)
    }

    /// mountinfo writes a space, tab, newline or backslash in a path as an octal escape (`\040`).
    private static func unescaped(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
