#!/usr/bin/env python3
"""`make demo` still shows what it promises: runs deploy/demo/run-demo.sh once (a local
docker-registry, `signet serve` over HTTPS, real and tampered cosign signatures) and checks the
decisions and the details it prints, that it finishes within a minute, and that it leaves no
temporary directory behind.

Run by `make test` with SIGNET_BINARY pointing at a built signet; needs docker-registry,
openssl, curl and PyYAML (`make deps`).
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIGNET = os.environ.get("SIGNET_BINARY", "")


class DemoTests(unittest.TestCase):
    output = ""

    @classmethod
    def setUpClass(cls):
        if not SIGNET or not os.access(SIGNET, os.X_OK):
            raise unittest.SkipTest("SIGNET_BINARY is not set to a built signet")
        cls.scratch = tempfile.TemporaryDirectory(prefix="signet-demo-test-")
        environment = dict(os.environ, SIGNET_BINARY=SIGNET, TMPDIR=cls.scratch.name)
        started = time.monotonic()
        completed = subprocess.run(["bash", os.path.join(ROOT, "deploy", "demo", "run-demo.sh")],
                                   capture_output=True, text=True, env=environment, timeout=120)
        cls.seconds = time.monotonic() - started
        cls.status = completed.returncode
        cls.output = completed.stdout
        cls.errors = completed.stderr
        cls.leftovers = os.listdir(cls.scratch.name)
        # The scenes by their `== N.` headings.
        cls.scenes = dict(re.findall(r"^== (\w+)\. .*\n((?:(?!== ).*\n)*)", cls.output, re.M))

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def scene(self, number):
        self.assertIn(number, self.scenes, f"scene {number} missing from:\n{self.output}")
        return self.scenes[number]

    def test_runs_to_the_end_within_a_minute_and_cleans_up(self):
        self.assertEqual(self.status, 0, f"stdout:\n{self.output}\nstderr:\n{self.errors}")
        self.assertLess(self.seconds, 60)
        self.assertIn("signet exited cleanly (status 0)", self.output)
        self.assertEqual(self.leftovers, [], "the demo left files in its temporary directory")

    def test_a_signature_made_by_the_demo_key_verifies(self):
        scene = self.scene("1")
        self.assertRegex(scene, r"^ALLOWED  127\.0\.0\.1:\d+/demo/web:1\.0 \(pod demo/web\) in [\d.]+ ms\n")
        self.assertRegex(scene, r"digest +sha256:[0-9a-f]{64}\n")
        self.assertRegex(scene, r"key +publicKeys\[0\] \(file demo\.pub\), ecdsa-p256 sha256:[0-9a-f]{16}")
        self.assertRegex(scene, r"time +[\d.]+ ms to decide, [\d.]+ ms of it verifying \(cache miss, [1-9]\d* registry requests\)")

    def test_a_real_cosign_signature_verifies_with_alices_key(self):
        scene = self.scene("1b")
        self.assertRegex(scene, r"^ALLOWED  \S+/securesystemsengineering/testimage:multi-cosigned-alice ")
        self.assertIn("sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81", scene)
        self.assertIn("publicKeys[1] (file Tests/Vectors/connaisseur/test/testdata/cosign/alice.key)", scene)

    def test_the_second_admission_comes_from_the_cache(self):
        scene = self.scene("2")
        self.assertRegex(scene, r"^ALLOWED  \S+/demo/web:1\.0 \(pod demo/web-2\) in [\d.]+ ms")
        self.assertIn("hit: verification cache hits +1, tag cache hits +1, 0 registry requests", scene)

    def test_an_unsigned_image_is_denied(self):
        scene = self.scene("3")
        self.assertRegex(scene, r"^DENIED   \S+/demo/unsigned:1\.0 ")
        self.assertRegex(scene, r"reason +no cosign signatures: \S+/demo/unsigned:sha256-[0-9a-f]{64}\.sig does not exist")

    def test_tampered_signatures_are_denied_with_the_reason(self):
        scene = self.scene("4")
        self.assertRegex(scene, r"^DENIED   pod demo/tampered \(2 images\) ")
        self.assertRegex(scene, r"edited +no valid cosign signature by a trusted key: layer 0: the signature \(\d+ bytes\) "
                                r"does not verify with any of the 2 trusted key\(s\)")
        self.assertRegex(scene, r"copied +no valid cosign signature by a trusted key: layer 0: the payload signs "
                                r"sha256:[0-9a-f]{64}, not the image's digest sha256:[0-9a-f]{64}")

    def test_the_keyless_production_signature_shows_its_trust_chain(self):
        scene = self.scene("5")
        self.assertRegex(scene, r"^ALLOWED  \S+/securesystemsengineering/testimage:keyless ")
        self.assertIn("tlog       ok: https://rekor.sigstore.dev index 98235800", scene)
        self.assertIn("chain      ok: to CN=sigstore,O=sigstore.dev at 2024-05-30T15:18:17Z", scene)
        self.assertIn("identity   ok: philipp.belitz@securesystems.de from https://github.com/login/oauth", scene)
        self.assertIn('does not match "bob@gmail.com"', scene)

    def test_a_policy_exception_allows_until_its_expiry(self):
        scene = self.scene("6")
        self.assertRegex(scene, r"^ALLOWED  \S+/demo/legacy-report:0\.9 \(pod reporting/nightly-report\) ")
        self.assertIn('allowed by PolicyException "reporting/legacy-report-unsigned"', scene)
        # Two hours after the demo started, counted then.
        self.assertRegex(scene, r"expires +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, in (2 h 0|1 h 59) min")
        self.assertRegex(scene, r"\nDENIED   the same image in pod demo/nightly-report ")

    def test_an_emergency_bypass_allows_and_is_audited(self):
        scene = self.scene("7")
        self.assertRegex(scene, r"^ALLOWED  \S+/demo/payments-api:2\.4\.1-hotfix \(pod payments/payments-api\) ")
        self.assertIn('allowed without verification by EmergencyBypass "incident-4711-payments"', scene)
        self.assertRegex(scene, r"expires +\S+Z, in (4 h 0|3 h 59) min")
        self.assertIn("records admission, emergency-bypass; signet_emergency_bypass_uses_total +1", scene)


if __name__ == "__main__":
    unittest.main(verbosity=2, argv=[sys.argv[0]] + sys.argv[1:])
