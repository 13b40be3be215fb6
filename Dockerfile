# Production image: multi-stage build, non-root user, data in a volume.
FROM rust:1.95-bookworm AS build
# libpq-dev: diesel's PostgreSQL backend links the PostgreSQL client library.
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin coffer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/coffer coffer \
    && mkdir -p /var/lib/coffer \
    && chown coffer:coffer /var/lib/coffer
COPY --from=build /src/target/release/coffer /usr/local/bin/coffer
USER coffer
WORKDIR /var/lib/coffer
# Production profile: a master key must be configured (COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY
# or ..._MASTER_KEY_FILE), and COFFER__SERVER__HOST_HREF (the public URL of refs). Trusted-headers
# auth additionally needs COFFER__AUTH__TRUSTED_HEADERS__PROXY_SECRET_FILE: the secret the
# authenticating proxy in front sends with every request (or use COFFER__AUTH__MODE=keystone).
ENV COFFER__PROFILE=production \
    COFFER__SERVER__BIND=0.0.0.0:9311 \
    COFFER__SERVER__DATA_DIR=/var/lib/coffer \
    COFFER__DATABASE__URL=sqlite:///var/lib/coffer/coffer.db
# For PostgreSQL, override COFFER__DATABASE__URL=postgres://user:password@host:5432/coffer
VOLUME ["/var/lib/coffer"]
EXPOSE 9311
ENTRYPOINT ["coffer"]
CMD ["serve"]
