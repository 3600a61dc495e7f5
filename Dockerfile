# The image-promote GitHub Action: one static (musl) binary on `scratch` with CA certificates.
#
#   docker build .                                  # BIN_STAGE=build: compiles Rust (minutes; GitHub's `image: Dockerfile`)
#   docker build --build-arg BIN_STAGE=prebuilt .   # uses prebuilt/image-promote + prebuilt/ca-certificates.crt
#
# With BIN_STAGE=prebuilt and BuildKit, the rust stage is never resolved, so no base image is pulled
# (see tests/container.sh, which builds and runs the image exactly as the runner does).
ARG BIN_STAGE=build

FROM docker.io/library/rust:1-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin image-promote \
    && mkdir -p /out \
    && cp target/release/image-promote /out/image-promote \
    && cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt

FROM scratch AS prebuilt
COPY prebuilt/image-promote /out/image-promote
COPY prebuilt/ca-certificates.crt /out/ca-certificates.crt

FROM ${BIN_STAGE} AS bin

FROM scratch
LABEL org.opencontainers.image.title="image-promote" \
      org.opencontainers.image.description="Promote a tested container image from staging to production, byte for byte" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=bin /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=bin /out/image-promote /image-promote
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/image-promote"]
