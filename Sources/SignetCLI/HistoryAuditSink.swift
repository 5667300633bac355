import Foundation
import SignetAdmission
import SignetConsole
import SignetHistory

/// Hands every admission decision to the history (``HistoryRecorder``) besides the audit sink
/// it wraps: one ``HistoryEntry`` per `admission` audit record (the extra `emergency-bypass`
/// records of a decision are not decisions of their own). Only queues: the entry is built by the
/// recorder's writer, off the admission path; the time is read here, from `clock`.
struct HistoryAuditSink: AuditSink {
    let recorder: HistoryRecorder
    /// The audit sink in force before history was added (standard output), if any.
    let next: (any AuditSink)?
    var clock: @Sendable () -> Date = { Date() }

    func record(_ record: AdmissionAuditRecord) {
        next?.record(record)
        guard record.event == "admission" else { return }
        let time = clock()
        recorder.record(
            estimatedBytes: record.estimatedByteCount, namespace: record.namespace, fromAPIServer: record.fromAPIServer,
            deferred: { HistoryEntry.admission(record, time: time) })
    }
}
