"""A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1 over plain HTTP,
anonymous or with htpasswd Basic auth, and a small pusher of the connaisseur cosign vectors
(real signatures) over the distribution API (OCI distribution spec: monolithic blob upload,
manifest PUT).

The signature images are pushed whole: their payload blobs are in the vectors and their config
blobs are the empty-image configs cosign writes, rebuilt byte for byte (the registry checks their
digests). The image manifests name multi-megabyte layers the vectors do not carry; a signature
covers only the manifest digest, so placeholders for those blobs are written into the registry's
storage before the manifests are pushed (as Tests/SignetVerifyTests/VerifyTestSupport.swift does).
"""
import base64
import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request

from kube_cluster import Process, free_port, wait_until, write

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER_REGISTRY = "/usr/bin/docker-registry"
CONNAISSEUR_SUBPATH = os.path.join("connaisseur", "test", "testdata", "cosign")


def connaisseur_folder():
    """The connaisseur cosign vectors: the repository's copy, else the shared one beside it."""
    for base in (os.path.join(ROOT, "Tests", "Vectors"), os.path.join(ROOT, "..", "shared", "vectors")):
        folder = os.path.join(base, CONNAISSEUR_SUBPATH)
        if os.path.isdir(os.path.join(folder, "securesystemsengineering", "testimage", "manifests")):
            return folder
    raise FileNotFoundError(f"no {CONNAISSEUR_SUBPATH} under Tests/Vectors or ../shared/vectors")


class Vectors:
    """Names and digests of the connaisseur images (see Tests/Vectors/README.md)."""
    ALICE = "multi-cosigned-alice"                  # signed by alice
    ALICE_BOB_CHARLIE = "multi-cosigned-alice-bob-charlie"  # signed by alice, bob and charlie
    KEYLESS = "keyless"                             # production keyless signature (Fulcio + Rekor)
    KEYLESS_SUBJECT = "philipp.belitz@securesystems.de"

    def __init__(self):
        self.folder = connaisseur_folder()
        self.base = os.path.join(self.folder, "securesystemsengineering", "testimage")

    def key(self, name):
        with open(os.path.join(self.folder, f"{name}.key")) as f:
            return f.read()

    def manifest(self, tag):
        with open(os.path.join(self.base, "manifests", f"{tag}.json"), "rb") as f:
            return f.read()

    def digest(self, tag):
        return "sha256:" + hashlib.sha256(self.manifest(tag)).hexdigest()

    def signature_tag(self, tag):
        return self.digest(tag).replace(":", "-") + ".sig"

    def blobs(self):
        folder = os.path.join(self.base, "blobs")
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                yield f.read()


class Registry:
    """docker-registry on a free loopback port; `users` turns on htpasswd Basic auth."""

    def __init__(self, directory, name="registry", users=None):
        self.directory = os.path.join(directory, name)
        os.makedirs(self.directory, exist_ok=True)
        self.port = free_port()
        self.auth = None
        config = f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.directory}/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{self.port}
  secret: signet-e2e-secret
"""
        if users:
            lines = []
            for user, password in users.items():
                result = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True, timeout=30)
                lines.append(result.stdout.strip())
            htpasswd = write(os.path.join(self.directory, "htpasswd"), "\n".join(lines) + "\n", 0o644)
            config += f"auth:\n  htpasswd:\n    realm: signet-e2e\n    path: {htpasswd}\n"
            user, password = next(iter(users.items()))
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        config_file = write(os.path.join(self.directory, "config.yml"), config, 0o644)
        self.process = Process(name, [DOCKER_REGISTRY, "serve", config_file], self.directory)
        wait_until(f"{name} answers /v2/", lambda: self.request("GET", "/v2/")[0] == 200, timeout=30,
                   on_timeout=self.process.stderr_tail)

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.process.stop()

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body) of one request; `path` may be an absolute URL (upload locations)."""
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        if self.auth:
            request.add_header("Authorization", self.auth)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def push_blob(self, repository, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        if status != 202:
            raise AssertionError(f"blob upload to {repository} refused: {status} {body[:200]!r}")
        location = headers["Location"]
        if location.startswith("/"):
            location = f"http://{self.host}{location}"
        separator = "&" if "?" in location else "?"
        status, _, body = self.request("PUT", f"{location}{separator}digest={digest}", data,
                                       {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise AssertionError(f"blob {digest} refused: {status} {body[:200]!r}")
        return digest

    def push_manifest(self, repository, tag, data, media_type):
        status, headers, body = self.request("PUT", f"/v2/{repository}/manifests/{tag}", data, {"Content-Type": media_type})
        if status != 201:
            raise AssertionError(f"manifest {repository}:{tag} refused: {status} {body[:300]!r}")
        return headers.get("Docker-Content-Digest")

    def plant_blob(self, repository, digest):
        """A placeholder blob and its repository link, written into the filesystem storage
        (distribution's layout: blobs/sha256/<2>/<hex>/data, repositories/<name>/_layers/sha256/<hex>/link)."""
        hex_digest = digest.split(":", 1)[1]
        root = os.path.join(self.directory, "data", "docker", "registry", "v2")
        blob = os.path.join(root, "blobs", "sha256", hex_digest[:2], hex_digest)
        link = os.path.join(root, "repositories", repository, "_layers", "sha256", hex_digest)
        os.makedirs(blob, exist_ok=True)
        os.makedirs(link, exist_ok=True)
        write(os.path.join(blob, "data"), b"placeholder", 0o644)
        write(os.path.join(link, "link"), digest, 0o644)

    def push_image(self, repository, tag, manifest):
        """An image manifest of the vectors, its config and layers planted as placeholders."""
        document = json.loads(manifest)
        for entry in [document["config"]] + document["layers"]:
            self.plant_blob(repository, entry["digest"])
        return self.push_manifest(repository, tag, manifest, document["mediaType"])

    def push_signature(self, repository, tag, manifest, payloads):
        """A cosign signature manifest: its payload blobs and the config cosign writes for it."""
        for payload in payloads:
            self.push_blob(repository, payload)
        document = json.loads(manifest)
        layers = document["layers"]
        diff_ids = ",".join(f'"{layer["digest"]}"' for layer in layers)
        history = ",".join(['{"created":"0001-01-01T00:00:00Z"}'] * len(layers))
        config = ('{"architecture":"","created":"0001-01-01T00:00:00Z","history":[' + history + '],"os":"",'
                  '"rootfs":{"type":"layers","diff_ids":[' + diff_ids + ']},"config":{}}').encode()
        pushed = self.push_blob(repository, config)
        if pushed != document["config"]["digest"]:
            raise AssertionError(f"rebuilt cosign config for {tag} is {pushed}, the manifest names {document['config']['digest']}")
        return self.push_manifest(repository, tag, manifest, document["mediaType"])

    def push_oci_layout(self, repository, layout):
        """Every blob and manifest of an OCI image layout directory (image manifests first, then
        indexes such as the `sha256-<hex>` referrers tag index), each tagged with its
        `org.opencontainers.image.ref.name` or pushed by digest; returns the digest tagged `v1`."""
        blobs = os.path.join(layout, "blobs", "sha256")
        for name in sorted(os.listdir(blobs)):
            with open(os.path.join(blobs, name), "rb") as handle:
                self.push_blob(repository, handle.read())
        with open(os.path.join(layout, "index.json")) as handle:
            entries = json.load(handle)["manifests"]
        tagged = None
        for entry in sorted(entries, key=lambda e: e["mediaType"] == "application/vnd.oci.image.index.v1+json"):
            with open(os.path.join(blobs, entry["digest"].split(":", 1)[1]), "rb") as handle:
                data = handle.read()
            tag = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") or entry["digest"]
            self.push_manifest(repository, tag, data, entry["mediaType"])
            if tag == "v1":
                tagged = entry["digest"]
        return tagged

    def push_signed(self, vectors, repository, image_tag, tag=None, signature=None):
        """The vector image `image_tag` under `repository:tag` with its signature (or the
        signature manifest given); returns the image digest."""
        digest = self.push_image(repository, tag or image_tag, vectors.manifest(image_tag))
        if digest != vectors.digest(image_tag):
            raise AssertionError(f"{repository}:{tag} stored as {digest}, expected {vectors.digest(image_tag)}")
        manifest = signature if signature is not None else vectors.manifest(vectors.signature_tag(image_tag))
        self.push_signature(repository, vectors.signature_tag(image_tag), manifest, list(vectors.blobs()))
        return digest


def tampered_signature(manifest):
    """The signature manifest with every signature annotation altered: the last byte of each
    DER-encoded ECDSA signature flipped, so it still parses and no longer verifies."""
    document = json.loads(manifest)
    for layer in document["layers"]:
        annotations = layer["annotations"]
        signature = bytearray(base64.b64decode(annotations["dev.cosignproject.cosign/signature"]))
        signature[-1] ^= 0x01
        annotations["dev.cosignproject.cosign/signature"] = base64.b64encode(bytes(signature)).decode()
    return json.dumps(document, indent=4).encode()


def unsigned_variant(manifest):
    """The image manifest serialised another way: the same image, a digest no signature names."""
    return json.dumps(json.loads(manifest), indent=2, sort_keys=True).encode()
