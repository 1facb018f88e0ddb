# syntax=docker/dockerfile:1
#
# One Dockerfile for every binary of the workspace: each function and the
# `ticketgw` CLI (whose `migrate` subcommand runs as the Knative migrate Job).
#
#   DOCKER_BUILDKIT=1 docker build --build-arg FUNCTION=catalog-query \
#       -t ghcr.io/ticket-gateway/catalog-query:dev .
#   DOCKER_BUILDKIT=1 docker build --build-arg FUNCTION=ticketgw \
#       -t ghcr.io/ticket-gateway/ticketgw:dev .
#
# Needs BuildKit (cache mounts) and a committed Cargo.lock (--locked).

# The builder runs on Debian bookworm so that the binary links against the same
# glibc as the distroless cc-debian12 runtime. Keep it at or above the
# workspace's rust-version; it defaults to the toolchain CI tests with.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
ARG FUNCTION
WORKDIR /app
# sqlx's compile-time checked queries, if any, read the committed .sqlx/ data
# instead of connecting to a database during the image build.
ENV SQLX_OFFLINE=true
COPY . .
# The crate registry and target/ live in BuildKit cache mounts, so a rebuild, or
# the build of another function, reuses every compiled dependency. A cache
# mount is gone once the RUN ends, hence the copy of the binary to /out.
RUN --mount=type=cache,id=ticketgw-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=ticketgw-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=ticketgw-target,target=/app/target,sharing=locked \
    set -eu; \
    if [ -z "${FUNCTION:-}" ]; then \
      echo "error: pass --build-arg FUNCTION=<crate> (a functions/<name> crate or ticketgw)" >&2; \
      exit 1; \
    fi; \
    cargo build --profile dist -p "${FUNCTION}" --locked; \
    install -D -m 0755 "target/dist/${FUNCTION}" /out/app

# Distroless: glibc, libgcc, CA certificates and tzdata; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG FUNCTION
LABEL org.opencontainers.image.title="${FUNCTION}" \
      org.opencontainers.image.description="Ticket Gateway: ${FUNCTION}" \
      org.opencontainers.image.source="https://github.com/ticket-gateway/ticket-gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/app /usr/local/bin/app
ENV PORT=8080
EXPOSE 8080
# The image's `nonroot` user, by number: with runAsNonRoot the kubelet can only
# verify a numeric user (it refuses to start a container whose USER is a name).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
