# Production image: multi-stage build, non-root user, data in a volume.
FROM rust:1.95-bookworm AS build
# libpq-dev: diesel's PostgreSQL backend links the PostgreSQL client library.
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The commit `coffer --version` shows (the context has no .git): docker build --build-arg
# COFFER_GIT_COMMIT=$(git rev-parse --short=12 HEAD) ...
ARG COFFER_GIT_COMMIT=unknown
ENV COFFER_GIT_COMMIT=$COFFER_GIT_COMMIT

# Dependency layer: the manifests and lock file with stub sources, built once; an edit of
# Coffer's own code then rebuilds only the workspace's crates.
COPY Cargo.toml Cargo.lock build.rs ./
COPY plugin_api/Cargo.toml plugin_api/
COPY store_plugins/store_crypto/Cargo.toml store_plugins/store_crypto/
COPY store_plugins/external/Cargo.toml store_plugins/external/
COPY crypto_plugins/crypto_kit/Cargo.toml crypto_plugins/crypto_kit/
COPY crypto_plugins/simple_crypto/Cargo.toml crypto_plugins/simple_crypto/
COPY crypto_plugins/p11_crypto/Cargo.toml crypto_plugins/p11_crypto/
COPY auth_plugins/trusted_headers/Cargo.toml auth_plugins/trusted_headers/
COPY auth_plugins/keystone/Cargo.toml auth_plugins/keystone/
COPY event_plugins/audit_log/Cargo.toml event_plugins/audit_log/
COPY event_plugins/webhook/Cargo.toml event_plugins/webhook/
COPY event_plugins/command/Cargo.toml event_plugins/command/
COPY bench/p11/Cargo.toml bench/p11/
COPY bench/ceiling/Cargo.toml bench/ceiling/
RUN for d in plugin_api store_plugins/store_crypto store_plugins/external \
        crypto_plugins/crypto_kit crypto_plugins/simple_crypto crypto_plugins/p11_crypto \
        auth_plugins/trusted_headers \
        auth_plugins/keystone event_plugins/audit_log event_plugins/webhook \
        event_plugins/command; do \
        mkdir -p "$d/src" && touch "$d/src/lib.rs"; \
    done \
    && mkdir -p src bench/p11/src bench/ceiling/src && touch src/lib.rs \
    && echo 'fn main() {}' > src/main.rs && echo 'fn main() {}' > bench/p11/src/main.rs \
    && echo 'fn main() {}' > bench/ceiling/src/main.rs \
    && cargo build --release --locked --bin coffer
# Coffer itself: its crates' sources replace the stubs (touched, so cargo sees them newer).
COPY . .
RUN find src plugin_api/src store_plugins crypto_plugins auth_plugins event_plugins \
        -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --bin coffer \
    && strip target/release/coffer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/coffer coffer \
    && mkdir -p /var/lib/coffer \
    && chown coffer:coffer /var/lib/coffer \
    && chmod 0700 /var/lib/coffer
COPY --from=build /src/target/release/coffer /usr/local/bin/coffer
USER coffer
WORKDIR /var/lib/coffer
# Production profile: a master key must be configured (COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY
# or ..._MASTER_KEY_FILE), and COFFER__SERVER__HOST_HREF (the public URL of refs). Trusted-headers
# auth additionally needs COFFER__AUTH__TRUSTED_HEADERS__PROXY_SECRET_FILE: the secret the
# authenticating proxy in front sends with every request (or use COFFER__AUTH__MODE=keystone).
# The SQLite database goes to the data directory (/var/lib/coffer/coffer.db); for PostgreSQL set
# COFFER__DATABASE__URL=postgres://user:password@host:5432/coffer.
ENV COFFER__PROFILE=production \
    COFFER__SERVER__BIND=0.0.0.0:9311 \
    COFFER__SERVER__DATA_DIR=/var/lib/coffer
VOLUME ["/var/lib/coffer"]
EXPOSE 9311
# Readiness without curl in the image: `coffer health` asks /readyz on the bound port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["coffer", "health", "--timeout-ms", "4000"]
ENTRYPOINT ["coffer"]
CMD ["serve"]
