extension String {
    /// `pieces` one after another, copied into one buffer of exactly their size.
    ///
    /// For texts put together on every review (a verdict's reason, a container's description):
    /// `+=` checks the capacity, uniqueness and encoding of the string for every piece, which
    /// cost several times the copy itself. The pieces are read in place, through their UTF-8
    /// storage (copying one out of the array retained and released it).
    public init(concatenating pieces: [String]) {
        self = pieces.withUnsafeBufferPointer { pieces in
            var total = 0
            for index in pieces.indices { total += pieces[index].utf8.count }
            return String(unsafeUninitializedCapacity: total) { buffer in
                var offset = 0
                for index in pieces.indices {
                    let copied = pieces[index].utf8.withContiguousStorageIfAvailable { bytes -> Int in
                        guard let source = bytes.baseAddress, let target = buffer.baseAddress else { return 0 }
                        (target + offset).initialize(from: source, count: bytes.count)
                        return bytes.count
                    }
                    if let copied {
                        offset += copied
                    } else {
                        // A string without contiguous UTF-8 (bridged): copied byte by byte.
                        for byte in pieces[index].utf8 {
                            buffer[offset] = byte
                            offset += 1
                        }
                    }
                }
                return offset
            }
        }
    }
}
