/// What each verdict and each kind of reason means, and what to do about it: the Help page.
enum HelpPage {
    static let entries: [(term: String, meaning: String, action: String)] = [
        ("allow", "Every policy whose images glob matched passed (or an exception or bypass applied, or no policy covers the image and the no-match action is allow).",
         "Nothing. The Trust chain page shows who vouched for the digest."),
        ("deny", "An Enforce policy failed, the reference does not parse, or no policy covers the image and the no-match action is deny.",
         "Read the reason: it names the image, the policy and the authority. Sign the image with a key or identity the policy trusts, or ask for a PolicyException with an expiry."),
        ("warn", "Only Warn policies failed, or no policy covers the image and the no-match action is warn: admitted with a warning to the client.",
         "Fix the signature before the policy moves to Enforce; add a policy that covers the image."),
        ("audit", "Only Audit policies failed: admitted, recorded in the audit trail only.",
         "Review the finding; nothing blocks yet."),
        ("no cosign signatures", "The registry has no <repo>:sha256-<hex>.sig image and no Sigstore bundle referrer for the digest.",
         "Sign the digest (cosign sign --key … IMAGE@DIGEST) and push the signature to the same repository."),
        ("does not verify with any of the N trusted key(s)", "Signatures exist but none verifies with the policy's keys over a payload for this digest.",
         "Check the key the image was signed with against the policy's publicKeys; re-sign after rebuilding, since a new digest needs a new signature."),
        ("threshold", "Valid signatures came from fewer distinct trusted keys than the policy's threshold.",
         "Have the missing signers sign the digest."),
        ("identity / issuer", "A keyless certificate's subject or OIDC issuer does not match the policy's identities.",
         "Compare the certificate's SAN and issuer (signet verify prints them) with the policy."),
        ("transparency log", "The Rekor entry is missing, does not verify against the trusted root, or does not record this signature.",
         "Sign with the transparency log on, or set transparencyLog: ignore only where offline signing is accepted."),
        ("certificate chain / timestamp", "The signing certificate does not chain to the trusted root at the signing time, or the timestamp does not verify.",
         "Check the trust root in force (the Policies page names it) and the signer's time source."),
        ("not covered by any ClusterImagePolicy", "No policy's images glob matches the image.",
         "Add a ClusterImagePolicy for the registry or repository, or accept the no-match action."),
        ("error / could not find out", "The registry could not be reached, credentials failed, or the deadline passed: a decision by the policy's failure rule (fail closed).",
         "Retry; check registry reachability and pull secrets; the reason names the registry error."),
        ("exception / bypass", "A PolicyException or EmergencyBypass in force let the image in without checking the policy.",
         "The Policies page shows how long it has left; remove it once the image is signed."),
    ]

    static var html: String {
        var out = "<p>Every decision names the image, the policy and the reason. What each means and what to do:</p><dl class=\"help\">"
        for entry in entries {
            out += "<dt>\(HTML.escape(entry.term))</dt><dd>\(HTML.escape(entry.meaning))<br><strong>What to do:</strong> \(HTML.escape(entry.action))</dd>"
        }
        out += "</dl><h2>Access</h2><p>Reading the console needs <code>get</code> on <code>clusterimagepolicies.signet.dev</code>; "
        out += "running verifications needs <code>create</code> on <code>verifications.console.signet.dev</code> (the chart's "
        out += "<code>signet-console-verifier</code> ClusterRole).</p>"
        return out
    }
}
