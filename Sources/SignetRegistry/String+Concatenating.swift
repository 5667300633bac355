extension String {
    /// `pieces` one after another, copied into one buffer of exactly their size.
    ///
    /// For texts put together on every review (a verdict's reason, a container's description):
    /// `+=` checks the capacity, uniqueness and encoding of the string for every piece, which
    /// cost several times the copy itself.
    public init(concatenating pieces: [String]) {
        var total = 0
        for index in pieces.indices { total += pieces[index].utf8.count }
        self.init(unsafeUninitializedCapacity: total) { buffer in
            var offset = 0
            for index in pieces.indices {
                var piece = pieces[index]
                piece.withUTF8 { bytes in
                    guard let source = bytes.baseAddress, let target = buffer.baseAddress, !bytes.isEmpty else { return }
                    (target + offset).initialize(from: source, count: bytes.count)
                    offset += bytes.count
                }
            }
            return offset
        }
    }
}
