# diurnal: one static binary on an empty, non-root runtime image.
#
#   docker build -t diurnal .
#
# The binary links glibc statically (crt-static) and uses rustls with ring, so it needs no
# shared library, no OpenSSL and no tzdata from the image: the tz database is compiled in
# (jiff's bundled database). scripts/build-static runs the same cargo command; CI runs it to
# prove this recipe's Rust part on machines without a container engine.

ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-bookworm AS build
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
