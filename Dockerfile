# diurnal: one static binary on an empty, non-root runtime image.
#
#   docker build -t diurnal .
#
# The binary links glibc statically (crt-static) and uses rustls with ring, so it needs no
# shared library, no OpenSSL and no tzdata from the image: the tz database is compiled in
# (jiff's bundled database). scripts/build-static runs the same cargo command; CI runs it to
# prove this recipe's Rust part on machines without a container engine.

# The build stage's base is pinned by digest, so a moved tag cannot change what builds the binary.
# The digest is the one published for rust:1.95-bookworm as seen in public build logs and
# Dockerfiles (this project's machines cannot reach a container registry to resolve it). To move
# it: `docker buildx imagetools inspect rust:1.95-bookworm` and copy the "Digest:" line (the
# multi-platform index), then rebuild. The runtime stage is `scratch`: nothing is pulled for it.
ARG RUST_IMAGE=rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN scripts/build-static /out/diurnal

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/diurnal /diurnal
# Non-root, as distroless images' `nonroot` user.
USER 65532:65532
ENTRYPOINT ["/diurnal"]
CMD ["controller"]
