-- Secrets: metadata, plus the store's per-secret metadata (for store_crypto: the ciphertext).
CREATE TABLE secrets (
    id             TEXT PRIMARY KEY NOT NULL,
    project_id     TEXT NOT NULL,
    creator_id     TEXT,
    name           TEXT,
    secret_type    TEXT NOT NULL,
    algorithm      TEXT,
    bit_length     INTEGER,
    mode           TEXT,
    expiration     TIMESTAMP,
    status         TEXT NOT NULL DEFAULT 'ACTIVE',
    -- NULL until the secret has a payload (metadata-only secrets).
    content_type   TEXT,
    -- The configured store that holds the payload, and what it returned (JSON object).
    store_name     TEXT,
    store_metadata TEXT,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
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
