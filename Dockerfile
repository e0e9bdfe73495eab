# Coffer server and agent in one image.
#
#   docker build -t coffer .
#   docker run -d -p 8443:8443 -v coffer-data:/var/lib/coffer \
#     -v "$PWD/tls:/etc/coffer/tls:ro" coffer
#
# The server listens on 0.0.0.0:8443 over TLS with /etc/coffer/tls/server.pem and
# server.key (mount your own; a server off loopback refuses plain HTTP unless
# tls_disable = true says TLS ends in front of it). The data directory, with the
# SQLite store, the root key and the first account's root credential
# (root-credentials, written once), is the volume /var/lib/coffer. Give
# COFFER_DATABASE_URL for a PostgreSQL store, COFFER_ROOT_KEY_SOURCE=env and
# COFFER_ROOT_KEY to keep the root key out of the volume, COFFER_HEALTH_URL when
# the server listens elsewhere than https://127.0.0.1:8443.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p coffer \
 && strip target/release/coffer

FROM debian:bookworm-slim
# ca-certificates: the system's roots (webhooks, OIDC issuers, PostgreSQL over
# TLS); curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/coffer --shell /usr/sbin/nologin coffer \
 && install -d -o coffer -g coffer -m 0700 /var/lib/coffer \
 && install -d -m 0755 /etc/coffer/tls
COPY --from=build /src/target/release/coffer /usr/local/bin/coffer
COPY packaging/coffer.toml /etc/coffer/coffer.toml
USER coffer
VOLUME /var/lib/coffer
EXPOSE 8443
# Another listen address or port, or tls_disable = true: give the URL to check
# (docker run -e COFFER_HEALTH_URL=http://127.0.0.1:8750/health ...).
ENV COFFER_HEALTH_URL=https://127.0.0.1:8443/health
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD curl -fsk "$COFFER_HEALTH_URL" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/coffer"]
CMD ["server", "--config", "/etc/coffer/coffer.toml"]
