# signet: a release binary with the Swift standard library linked in statically, on a small
# Debian runtime that has only the shared libraries it links (OpenSSL 3, libcurl with nghttp2)
# and CA certificates. Runs as a non-root numeric user; needs no writable root filesystem.
ARG SWIFT_IMAGE=swift:6.1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev libcurl4-openssl-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib --product signet \
 && install -D "$(swift build -c release --show-bin-path)/signet" /out/signet

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libcurl4 libnghttp2-14 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/signet /usr/local/bin/signet
COPY policies /etc/signet/policies
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/signet"]
CMD ["serve"]
