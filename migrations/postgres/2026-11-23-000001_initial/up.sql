-- The PostgreSQL schema: the same tables, columns, keys and indexes as migrations/sqlite (a
-- test compares the two). Text compares byte-wise (COLLATE "C"), as in SQLite, so sorting and
-- paging give the same order on both backends whatever the database's default locale.
-- Secrets: metadata, the read ACL, and the store's per-secret metadata (for store_crypto: the
-- ciphertext).
CREATE TABLE secrets (
    id                 TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id         TEXT COLLATE "C" NOT NULL,
    creator_id         TEXT COLLATE "C",
    name               TEXT COLLATE "C",
    secret_type        TEXT COLLATE "C" NOT NULL,
    algorithm          TEXT COLLATE "C",
    bit_length         INTEGER,
    mode               TEXT COLLATE "C",
    expiration         TIMESTAMP,
    status             TEXT COLLATE "C" NOT NULL DEFAULT 'ACTIVE',
    -- NULL until the secret has a payload (metadata-only secrets).
    content_type       TEXT COLLATE "C",
    -- The configured store that holds the payload, and what it returned (JSON object).
    store_name         TEXT COLLATE "C",
    store_metadata     TEXT COLLATE "C",
    -- The `read` ACL: NULL project-access means no ACL (the implicit open one).
    acl_project_access BOOLEAN,
    acl_users          TEXT COLLATE "C",
    acl_created_at     TIMESTAMP,
    acl_updated_at     TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX secrets_project_created ON secrets (project_id, created_at, id);

-- Project KEKs, wrapped by a crypto plugin's master key. One active KEK per (project, store).
CREATE TABLE project_keks (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id    TEXT COLLATE "C" NOT NULL,
    store_name    TEXT COLLATE "C" NOT NULL,
    plugin_name   TEXT COLLATE "C" NOT NULL,
    master_key_id TEXT COLLATE "C" NOT NULL,
    wrapped_kek   BYTEA NOT NULL,
    plugin_meta   TEXT COLLATE "C",
    active        BOOLEAN NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX project_keks_one_active ON project_keks (project_id, store_name) WHERE active;

-- User metadata of secrets (keys lower-case).
CREATE TABLE secret_metadata (
    secret_id  TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (secret_id, key)
);

-- Secret consumers (microversion 1.1).
CREATE TABLE secret_consumers (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    secret_id     TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    project_id    TEXT COLLATE "C" NOT NULL,
    service       TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id   TEXT COLLATE "C" NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX secret_consumers_unique ON secret_consumers (secret_id, service, resource_type, resource_id);
CREATE INDEX secret_consumers_project ON secret_consumers (project_id);

-- Containers and the secrets they reference.
CREATE TABLE containers (
    id                 TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id         TEXT COLLATE "C" NOT NULL,
    creator_id         TEXT COLLATE "C",
    name               TEXT COLLATE "C",
    type               TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL DEFAULT 'ACTIVE',
    acl_project_access BOOLEAN,
    acl_users          TEXT COLLATE "C",
    acl_created_at     TIMESTAMP,
    acl_updated_at     TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX containers_project_created ON containers (project_id, created_at, id);

CREATE TABLE container_secrets (
    container_id TEXT COLLATE "C" NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    name         TEXT COLLATE "C",
    secret_id    TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (container_id, position)
);
CREATE INDEX container_secrets_secret ON container_secrets (secret_id);

CREATE TABLE container_consumers (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    container_id TEXT COLLATE "C" NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    project_id   TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    url          TEXT COLLATE "C" NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX container_consumers_unique ON container_consumers (container_id, name, url);
CREATE INDEX container_consumers_project ON container_consumers (project_id);

-- Orders: durable requests to generate keys, worked by the order workers.
CREATE TABLE orders (
    id                 TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id         TEXT COLLATE "C" NOT NULL,
    creator_id         TEXT COLLATE "C",
    type               TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL,
    meta               TEXT COLLATE "C" NOT NULL,
    secret_id          TEXT COLLATE "C",
    container_id       TEXT COLLATE "C",
    -- An asymmetric order's passphrase, stored encrypted as a secret at submission (never in
    -- `meta`).
    passphrase_secret_id TEXT COLLATE "C",
    error_status_code  INTEGER,
    error_reason       TEXT COLLATE "C",
    sub_status         TEXT COLLATE "C",
    sub_status_message TEXT COLLATE "C",
    -- The worker holding the order and until when (a dead worker's lease expires).
    lease_owner        TEXT COLLATE "C",
    lease_expires_at   TIMESTAMP,
    attempts           INTEGER NOT NULL DEFAULT 0,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX orders_project_created ON orders (project_id, created_at, id);
CREATE INDEX orders_status ON orders (status, lease_expires_at);

-- Per-project quota overrides (NULL: the configured default).
CREATE TABLE project_quotas (
    project_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    secrets    INTEGER,
    orders     INTEGER,
    containers INTEGER,
    consumers  INTEGER,
    cas        INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The configured secret stores (synchronized from the configuration at start-up) and each
-- project's preferred one.
CREATE TABLE secret_stores (
    id             TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name           TEXT COLLATE "C" NOT NULL UNIQUE,
    store_plugin   TEXT COLLATE "C" NOT NULL,
    crypto_plugin  TEXT COLLATE "C",
    global_default BOOLEAN NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

CREATE TABLE project_secret_stores (
    project_id      TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    secret_store_id TEXT COLLATE "C" NOT NULL REFERENCES secret_stores (id),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
