# lifecycle-sim as a container image: one static binary on an empty base.
#
#   docker build -t lifecycle-sim .                       # full build (pulls the Rust image)
#   docker build --target prebuilt -t lifecycle-sim .     # from a binary built beforehand with
#       RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image --locked --target x86_64-unknown-linux-gnu
#   docker run --rm -p 4747:4747 -p 4748:4748 lifecycle-sim
#
# Configuration: every flag has a LIFECYCLE_SIM_* environment variable (lifecycle-sim --help).
# Scenario files mounted in /scenarios load at start instead of the built-in default.
# Port 4748 is the HTTPS proxy for clients on Microsoft's host names; /ca can keep its CA.
# The process is PID 1 and stops cleanly on SIGTERM (docker stop).

ARG RUST_VERSION=1.95
ARG TARGET=x86_64-unknown-linux-gnu

# ---- build: the static binary (glibc, crt-static; the image profile of Cargo.toml) ----
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
ARG TARGET
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY sim sim
COPY scenarios scenarios
COPY benches benches
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --profile image --locked --bin lifecycle-sim --target ${TARGET} \
 && cp target/${TARGET}/image/lifecycle-sim /lifecycle-sim

# ---- base: what every final image shares (configuration only, no files) ----
FROM scratch AS base
ENV LIFECYCLE_SIM_BIND=0.0.0.0 \
    LIFECYCLE_SIM_PORT=4747 \
    LIFECYCLE_SIM_PROXY_PORT=4748 \
    LIFECYCLE_SIM_SCENARIO_DIR=/scenarios
# 4747: the plain port. 4748: the HTTPS proxy for clients that keep Microsoft's host names
# (HTTPS_PROXY=http://<host>:4748, trusting GET /_sim/tls/ca.pem).
EXPOSE 4747 4748
# Where a volume keeps the CA across starts (LIFECYCLE_SIM_TLS_CA_DIR=/ca); owned by the image's
# user so that a new named volume is writable. (scratch cannot RUN mkdir, so it is copied in.)
COPY --chown=65532:65532 docker/ca/ /ca/
# An unprivileged user (numeric: scratch has no /etc/passwd).
USER 65532:65532
# scratch has no curl; the binary checks itself, against LIFECYCLE_SIM_PORT on loopback.
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 \
    CMD ["/lifecycle-sim", "health", "--timeout", "2s"]
ENTRYPOINT ["/lifecycle-sim"]
LABEL org.opencontainers.image.title="lifecycle-sim" \
      org.opencontainers.image.description="In-memory emulator of the Dynamics Lifecycle Services and Power Platform admin APIs, with a virtual clock" \
      org.opencontainers.image.licenses="MIT"

# ---- prebuilt: the image from a binary built outside (CI, offline) ----
FROM base AS prebuilt
ARG TARGET
COPY target/${TARGET}/image/lifecycle-sim /lifecycle-sim

# ---- image (default): the image from the build stage ----
FROM base AS image
COPY --from=build /lifecycle-sim /lifecycle-sim
