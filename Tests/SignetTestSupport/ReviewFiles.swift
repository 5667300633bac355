import Foundation

/// AdmissionReview bodies (`admission.k8s.io/v1`) written to files for `curl --data-binary @file`.
public enum ReviewFiles {
    /// A review of a Pod named `name` in `namespace` running `images`, written to `<name>.json`.
    public static func pod(in directory: TemporaryDirectory, named name: String, namespace: String = "default", images: [String]) throws -> String {
        let containers = images.enumerated().map { #"{"name":"c\#($0.offset)","image":"\#($0.element)"}"# }.joined(separator: ",")
        let json = """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(UUID().uuidString.lowercased())",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "namespace":"\(namespace)","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
            "metadata":{"name":"\(name)","namespace":"\(namespace)"},"spec":{"containers":[\(containers)]}}}}
            """
        return try directory.write("\(name).json", json).path
    }
}
