# signet: a release binary with the Swift standard library linked in statically, on a small
# Debian runtime that has only the shared libraries it links (OpenSSL 3, libcurl with nghttp2,
# libstdc++) and CA certificates. Runs as a non-root numeric user; needs no writable root
# filesystem (give it a writable /tmp, as the chart does).
#
# One base image, pinned by digest: debian:bookworm-slim, for the build and the runtime. The build
# stage installs the Swift toolchain the tests run with (SWIFT_VERSION) from swift.org, for the
# build machine's architecture (amd64 or arm64), and refuses it unless its detached signature is a
# good one by the Swift 6.x release signing key (SWIFT_SIGNING_KEY, the primary key's fingerprint).
ARG DEBIAN_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
ARG SWIFT_VERSION=6.3.1
ARG SWIFT_SIGNING_KEY=52BB7E3DE28A71BE22EC05FFEF80A866B47A981F

FROM ${DEBIAN_IMAGE} AS build
ARG SWIFT_VERSION
ARG SWIFT_SIGNING_KEY
# What the Swift toolchain needs on Debian 12, and the -dev packages of the libraries signet links.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl gpg gpg-agent dirmngr binutils gcc git libc6-dev libstdc++-12-dev libicu-dev \
      libedit-dev libsqlite3-dev libncurses-dev libpython3-dev libxml2-dev uuid-dev pkg-config tzdata \
      libssl-dev libcurl4-openssl-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
# VALIDSIG is printed only for a signature that verifies; its last field is the primary key's
# fingerprint, so a good signature by any other key is refused too.
RUN set -eu; \
    case "$(dpkg --print-architecture)" in amd64) suffix="" ;; arm64) suffix="-aarch64" ;; \
      *) echo "unsupported architecture $(dpkg --print-architecture)" >&2; exit 1 ;; esac; \
    name="swift-${SWIFT_VERSION}-RELEASE"; \
    url="https://download.swift.org/swift-${SWIFT_VERSION}-release/debian12${suffix}/${name}/${name}-debian12${suffix}.tar.gz"; \
    curl -fsSL "$url" -o /tmp/swift.tar.gz; \
    curl -fsSL "$url.sig" -o /tmp/swift.tar.gz.sig; \
    export GNUPGHOME="$(mktemp -d)"; \
    gpg --batch --quiet --keyserver hkps://keyserver.ubuntu.com --recv-keys "$SWIFT_SIGNING_KEY"; \
    gpg --batch --status-fd 1 --verify /tmp/swift.tar.gz.sig /tmp/swift.tar.gz > /tmp/verify.status 2>/dev/null || true; \
    grep -Eq "^\[GNUPG:\] VALIDSIG .* ${SWIFT_SIGNING_KEY}\$" /tmp/verify.status \
      || { echo "the Swift toolchain's signature is not a good one by ${SWIFT_SIGNING_KEY}" >&2; exit 1; }; \
    tar -xzf /tmp/swift.tar.gz --directory / --strip-components=1; \
    chmod -R o+r /usr/lib/swift; \
    rm -rf "$GNUPGHOME" /tmp/swift.tar.gz /tmp/swift.tar.gz.sig /tmp/verify.status; \
    swift --version
WORKDIR /src
# Package.swift names test targets too (one with a custom path), so the package only loads with
# Tests/ beside Sources/; only the signet product is built.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product signet \
 && install -D "$(swift build -c release --show-bin-path)/signet" /out/signet

FROM ${DEBIAN_IMAGE}
# The shared libraries the binary needs at run time (ldd of the binary, less what the static Swift
# standard library brings in): OpenSSL 3, libcurl (with its own dependencies) and nghttp2, the C++
# runtime the Swift runtime uses, and the CA certificates registries are verified against.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libcurl4 libnghttp2-14 libsqlite3-0 libstdc++6 libgcc-s1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/signet /usr/local/bin/signet
# Default policies when no policy source is mounted: the Kubernetes system images only, so
# every other image is denied until a policy covers it.
COPY policies/system-images.yaml /etc/signet/policies/system-images.yaml
ENV TMPDIR=/tmp
USER 65532:65532
# The HTTPS port: /validate for the API server, /healthz and /readyz for probes, /metrics.
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/signet"]
CMD ["serve"]
