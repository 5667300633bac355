import CSignetOpenSSL

/// OpenSSL's library-wide state in a process whose threads still run when it exits.
///
/// The first initialisation of OpenSSL 3 registers `OPENSSL_cleanup(3)` with atexit(3) unless it
/// is given `OPENSSL_INIT_NO_ATEXIT` (OPENSSL_init_crypto(3)). OPENSSL_cleanup "must not be called
/// while other threads are using OpenSSL", yet signet's event-loop, curl and pool threads may hold
/// TLS contexts and per-thread OpenSSL state (random generators, error queues) when `main`
/// returns: an SSL_CTX freed after the cleanup no longer runs its ex_data free callbacks, and a
/// thread that ends after it can no longer free its per-thread state (LeakSanitizer reported both
/// at the exit of `signet serve`, `verify` and `scan`). Keeping the state until the process is
/// gone removes that race; the kernel reclaims the memory at exit either way.
public enum OpenSSLLibraryState {
    /// Initialises OpenSSL without the atexit cleanup. Call it first in `main`, before anything
    /// else initialises OpenSSL (libcurl's `curl_global_init` does): the first initialisation
    /// decides. Returns false when OpenSSL cannot be initialised.
    @discardableResult
    public static func keepUntilProcessExit() -> Bool {
        OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil) == 1
    }
}
