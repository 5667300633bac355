import Foundation
import Testing

@testable import SignetHTTP

/// The CPU budget the default number of event loops follows, read from fake /proc and /sys trees
/// of the layouts a container meets (cgroup v2 with and without a namespace, cgroup v1, both at
/// once), and from this machine's own kernel.
struct CPUBudgetTests {
    /// A read-only file tree: path → contents.
    static func files(_ entries: [String: String]) -> (String) -> String? { { entries[$0] } }

    static let v2Mount = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

    @Test func aCgroupV2LimitInTheContainersNamespaceIsRoundedUp() {
        let quota = CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "0::/\n",
            "/proc/self/mountinfo": "22 1 0:21 / / rw - overlay overlay rw\n" + Self.v2Mount,
            "/sys/fs/cgroup/cpu.max": "150000 100000\n",
        ]))
        #expect(quota == 1.5)
        #expect(CPUBudget(affinityCPUs: 64, quotaCPUs: quota).usableCPUs == 2)
    }

    /// The smallest quota on the way up counts: a pod's limit holds for its containers.
    @Test func theSmallestQuotaOfTheGroupAndItsAncestorsCounts() {
        let quota = CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
            "/proc/self/mountinfo": Self.v2Mount,
            "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
            "/sys/fs/cgroup/kubepods/pod1/cpu.max": "50000 100000\n",
            "/sys/fs/cgroup/kubepods/cpu.max": "400000 100000\n",
        ]))
        #expect(quota == 0.5)
        #expect(CPUBudget(affinityCPUs: 8, quotaCPUs: quota).usableCPUs == 1)
    }

    @Test func aCgroupV1QuotaIsReadUnderItsMountsRoot() {
        let quota = CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "5:memory:/docker/abc\n3:cpuset:/docker/abc\n1:name=systemd:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
            // The cpu hierarchy is not the first cgroup mount: memory, cpuset and a named one come first.
            "/proc/self/mountinfo": """
                31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
                35 31 0:32 /docker /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
                34 31 0:31 /docker /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
                37 31 0:37 /docker /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
                32 31 0:29 /docker /sys/fs/cgroup/cpu,cpuacct rw,relatime master:9 - cgroup cgroup rw,cpu,cpuacct
                40 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

                """,
            "/sys/fs/cgroup/cpuset/abc/cpu.cfs_quota_us": "100000\n",
            "/sys/fs/cgroup/cpuset/abc/cpu.cfs_period_us": "100000\n",
            // The unified hierarchy of a hybrid layout has no CPU controller: v1 decides.
            "/sys/fs/cgroup/cpu,cpuacct/abc/cpu.cfs_quota_us": "200000\n",
            "/sys/fs/cgroup/cpu,cpuacct/abc/cpu.cfs_period_us": "100000\n",
        ]))
        #expect(quota == 2)
    }

    /// A group without a quota of its own under a parent with one (v1 `-1`), and a hierarchy
    /// mounted twice, the first mount showing another part of it (a host's, bind-mounted).
    @Test func aParentsQuotaAndTheMountThatHoldsTheGroupCount() {
        #expect(CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "4:cpu,cpuacct:/docker/abc\n",
            "/proc/self/mountinfo": "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpuacct,cpu\n",
            "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us": "-1\n", "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us": "100000\n",
            "/sys/fs/cgroup/cpu/docker/cpu.cfs_quota_us": "150000\n", "/sys/fs/cgroup/cpu/docker/cpu.cfs_period_us": "100000\n",
        ])) == 1.5)
        #expect(CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
            "/proc/self/mountinfo": """
                50 23 0:26 /system.slice /host/sys/fs/cgroup rw - cgroup2 cgroup2 rw
                30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw

                """,
            "/host/sys/fs/cgroup/cpu.max": "100000 100000\n",
            "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "250000 100000\n",
        ])) == 2.5)
    }

    /// A group outside the namespace's root is written with `..`: never a path out of cgroupfs.
    @Test func aGroupOutsideTheNamespaceIsNotFollowed() {
        var asked: [String] = []
        let quota = CPUBudget.quota(readFile: { path in
            asked.append(path)
            return ["/proc/self/cgroup": "0::/../other\n", "/proc/self/mountinfo": Self.v2Mount, "/sys/fs/cpu.max": "100000 100000"][path]
        })
        #expect(quota == nil)
        #expect(asked == ["/proc/self/cgroup", "/proc/self/mountinfo"])
    }

    /// A quota far above any CPU count (the kernel allows about 2^44 µs) leaves the mask as it is.
    @Test func aHugeQuotaLeavesTheMask() {
        #expect(CPUBudget(affinityCPUs: 4, quotaCPUs: 1e30).usableCPUs == 4)
        #expect(CPUBudget(affinityCPUs: 4, quotaCPUs: 0.01).usableCPUs == 1)
    }

    @Test func noLimitIsNoQuota() {
        #expect(CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "0::/\n", "/proc/self/mountinfo": Self.v2Mount, "/sys/fs/cgroup/cpu.max": "max 100000\n",
        ])) == nil)
        #expect(CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "1:cpu:/\n",
            "/proc/self/mountinfo": "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        ])) == nil)
        // Nothing readable (no /proc, a group outside the mount's root, garbage): no quota, no crash.
        #expect(CPUBudget.quota(readFile: Self.files([:])) == nil)
        #expect(CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "0::/elsewhere\n",
            "/proc/self/mountinfo": "30 23 0:26 /mine /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "/sys/fs/cgroup/cpu.max": "100000 100000\n",
        ])) == nil)
        #expect(CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "garbage\n0::/\n", "/proc/self/mountinfo": "x y\n" + Self.v2Mount,
            "/sys/fs/cgroup/cpu.max": "0 100000\n",
        ])) == nil)
    }

    /// mountinfo escapes a space in a mount point as `\040`.
    @Test func anEscapedMountPointIsFollowed() {
        let quota = CPUBudget.quota(readFile: Self.files([
            "/proc/self/cgroup": "0::/\n",
            "/proc/self/mountinfo": #"30 23 0:26 / /run/cgroup\040root rw - cgroup2 cgroup2 rw"# + "\n",
            "/run/cgroup root/cpu.max": "300000 100000",
        ]))
        #expect(quota == 3)
    }

    /// The affinity count is the one `nproc` prints (it reads the same mask), and the default
    /// number of event loops stays within it, the quota and 8.
    @Test func thisMachinesBudgetIsItsAffinityMask() throws {
        let nproc = Process()
        nproc.executableURL = URL(fileURLWithPath: "/usr/bin/nproc")
        nproc.environment = [:]  // nproc obeys OMP_NUM_THREADS and OMP_THREAD_LIMIT
        let output = Pipe()
        nproc.standardOutput = output
        try nproc.run()
        nproc.waitUntilExit()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let budget = CPUBudget.current()
        #expect(budget.affinityCPUs == Int(printed.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Never more loops than one per online processor (at most 8), the default before.
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        #expect(HTTPServerConfiguration.defaultEventLoopThreads <= max(1, min(8, online)))
        #expect(HTTPServerConfiguration.defaultEventLoopThreads >= 1)
    }
}
