# signet: a release binary with the Swift standard library linked in statically, on a small
# Debian runtime that has only the shared libraries it links (OpenSSL 3, libcurl with nghttp2,
# libstdc++) and CA certificates. Runs as a non-root numeric user; needs no writable root
# filesystem (give it a writable /tmp, as the chart does).
#
# Both base images are pinned by digest. RUNTIME_IMAGE is debian:bookworm-slim at a published
# digest. SWIFT_IMAGE is the linux/amd64 image of swift:6.1-bookworm; to build for another
# architecture, pass that architecture's digest:
#   docker build --build-arg SWIFT_IMAGE=swift:6.1-bookworm@sha256:<digest> -t signet .
ARG SWIFT_IMAGE=swift:6.1-bookworm@sha256:48a6d9c230cd654b262f805978d1d56b2aadf5b3c0d2fc088643296692cbca62
ARG RUNTIME_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev libcurl4-openssl-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Package.swift names test targets too (one with a custom path), so the package only loads with
# Tests/ beside Sources/; only the signet product is built.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product signet \
 && install -D "$(swift build -c release --show-bin-path)/signet" /out/signet

FROM ${RUNTIME_IMAGE}
# The shared libraries the binary needs at run time (ldd of the binary, less what the static Swift
# standard library brings in): OpenSSL 3, libcurl (with its own dependencies) and nghttp2, the C++
# runtime the Swift runtime uses, and the CA certificates registries are verified against.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libcurl4 libnghttp2-14 libstdc++6 libgcc-s1 ca-certificates \
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
