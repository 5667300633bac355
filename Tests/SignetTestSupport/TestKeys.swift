/// Public keys tests put in policies.
public enum TestKeys {
    /// An ECDSA P-256 public key (PKIX, PEM) whose private half no test holds: a key authority
    /// built from it verifies nothing a test signs (from the connaisseur vectors, `alice.key`).
    public static let unusedP256PublicKeyPEM = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEusIAt6EJ3YrTHdg2qkWVS0KuotWQ
        wHDtyaXlq7Nhj8279+1u/l5pZhXJPW8PnGRRLdO5NbsuM6aT7pOcP100uw==
        -----END PUBLIC KEY-----
        """

    /// A second such key, for tests that need two distinct keys (connaisseur's `bob`).
    public static let otherUnusedP256PublicKeyPEM = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE01DasuXJ4rfzAEXsURSnbq4QzJ6o
        EJ2amYV/CBKqEhhl8fDESxsmbdqtBiZkDV2C3znIwV16SsJlRRYO+UrrAQ==
        -----END PUBLIC KEY-----
        """
}
