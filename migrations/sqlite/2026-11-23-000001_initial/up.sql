-- Secrets: metadata, the read ACL, and the store's per-secret metadata (for store_crypto: the
-- ciphertext).
CREATE TABLE secrets (
    id                 TEXT PRIMARY KEY NOT NULL,
    project_id         TEXT NOT NULL,
    creator_id         TEXT,
    name               TEXT,
    secret_type        TEXT NOT NULL,
    algorithm          TEXT,
    bit_length         INTEGER,
    mode               TEXT,
    expiration         TIMESTAMP,
    status             TEXT NOT NULL DEFAULT 'ACTIVE',
    -- NULL until the secret has a payload (metadata-only secrets).
    content_type       TEXT,
    -- The configured store that holds the payload, and what it returned (JSON object).
    store_name         TEXT,
    store_metadata     TEXT,
    -- The `read` ACL: NULL project-access means no ACL (the implicit open one).
    acl_project_access BOOLEAN,
    acl_users          TEXT,
    acl_created_at     TIMESTAMP,
    acl_updated_at     TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX secrets_project_created ON secrets (project_id, created_at, id);

-- Project KEKs, wrapped by a crypto plugin's master key. One active KEK per (project, store).
CREATE TABLE project_keks (
    id            TEXT PRIMARY KEY NOT NULL,
    project_id    TEXT NOT NULL,
    store_name    TEXT NOT NULL,
    plugin_name   TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    wrapped_kek   BLOB NOT NULL,
    plugin_meta   TEXT,
    active        BOOLEAN NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX project_keks_one_active ON project_keks (project_id, store_name) WHERE active;

-- User metadata of secrets (keys lower-case).
CREATE TABLE secret_metadata (
    secret_id  TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (secret_id, key)
);

-- Secret consumers (microversion 1.1).
CREATE TABLE secret_consumers (
    id            TEXT PRIMARY KEY NOT NULL,
    secret_id     TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    project_id    TEXT NOT NULL,
    service       TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX secret_consumers_unique ON secret_consumers (secret_id, service, resource_type, resource_id);
CREATE INDEX secret_consumers_project ON secret_consumers (project_id);

-- Containers and the secrets they reference.
CREATE TABLE containers (
    id                 TEXT PRIMARY KEY NOT NULL,
    project_id         TEXT NOT NULL,
    creator_id         TEXT,
    name               TEXT,
    type               TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'ACTIVE',
    acl_project_access BOOLEAN,
    acl_users          TEXT,
    acl_created_at     TIMESTAMP,
    acl_updated_at     TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX containers_project_created ON containers (project_id, created_at, id);

CREATE TABLE container_secrets (
    container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    name         TEXT,
    secret_id    TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (container_id, position)
);
CREATE INDEX container_secrets_secret ON container_secrets (secret_id);

CREATE TABLE container_consumers (
    id           TEXT PRIMARY KEY NOT NULL,
    container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL,
    name         TEXT NOT NULL,
    url          TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX container_consumers_unique ON container_consumers (container_id, name, url);
CREATE INDEX container_consumers_project ON container_consumers (project_id);

-- Orders: durable requests to generate keys, worked by the order workers.
CREATE TABLE orders (
    id                 TEXT PRIMARY KEY NOT NULL,
    project_id         TEXT NOT NULL,
    creator_id         TEXT,
    type               TEXT NOT NULL,
    status             TEXT NOT NULL,
    meta               TEXT NOT NULL,
    secret_id          TEXT,
    container_id       TEXT,
    -- An asymmetric order's passphrase, stored encrypted as a secret at submission (never in
    -- `meta`).
    passphrase_secret_id TEXT,
    error_status_code  INTEGER,
    error_reason       TEXT,
    sub_status         TEXT,
    sub_status_message TEXT,
    -- The worker holding the order and until when (a dead worker's lease expires).
    lease_owner        TEXT,
    lease_expires_at   TIMESTAMP,
    attempts           INTEGER NOT NULL DEFAULT 0,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX orders_project_created ON orders (project_id, created_at, id);
CREATE INDEX orders_status ON orders (status, lease_expires_at);

-- Per-project quota overrides (NULL: the configured default).
CREATE TABLE project_quotas (
    project_id TEXT PRIMARY KEY NOT NULL,
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
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL UNIQUE,
    store_plugin   TEXT NOT NULL,
    crypto_plugin  TEXT,
    global_default BOOLEAN NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

CREATE TABLE project_secret_stores (
    project_id      TEXT PRIMARY KEY NOT NULL,
    secret_store_id TEXT NOT NULL REFERENCES secret_stores (id),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
