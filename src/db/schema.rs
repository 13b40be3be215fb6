//! The diesel schema, matching `migrations/sqlite`.

diesel::table! {
    secrets (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        name -> Nullable<Text>,
        secret_type -> Text,
        algorithm -> Nullable<Text>,
        bit_length -> Nullable<Integer>,
        mode -> Nullable<Text>,
        expiration -> Nullable<Timestamp>,
        status -> Text,
        content_type -> Nullable<Text>,
        store_name -> Nullable<Text>,
        store_metadata -> Nullable<Text>,
        acl_project_access -> Nullable<Bool>,
        acl_users -> Nullable<Text>,
        acl_created_at -> Nullable<Timestamp>,
        acl_updated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    project_keks (id) {
        id -> Text,
        project_id -> Text,
        store_name -> Text,
        plugin_name -> Text,
        master_key_id -> Text,
        wrapped_kek -> Binary,
        plugin_meta -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    secret_metadata (secret_id, key) {
        secret_id -> Text,
        key -> Text,
        value -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    secret_consumers (id) {
        id -> Text,
        secret_id -> Text,
        project_id -> Text,
        service -> Text,
        resource_type -> Text,
        resource_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    containers (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        name -> Nullable<Text>,
        #[sql_name = "type"]
        container_type -> Text,
        status -> Text,
        acl_project_access -> Nullable<Bool>,
        acl_users -> Nullable<Text>,
        acl_created_at -> Nullable<Timestamp>,
        acl_updated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    container_secrets (container_id, position) {
        container_id -> Text,
        position -> Integer,
        name -> Nullable<Text>,
        secret_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    container_consumers (id) {
        id -> Text,
        container_id -> Text,
        project_id -> Text,
        name -> Text,
        url -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        #[sql_name = "type"]
        order_type -> Text,
        status -> Text,
        meta -> Text,
        secret_id -> Nullable<Text>,
        container_id -> Nullable<Text>,
        passphrase_secret_id -> Nullable<Text>,
        error_status_code -> Nullable<Integer>,
        error_reason -> Nullable<Text>,
        sub_status -> Nullable<Text>,
        sub_status_message -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        attempts -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    project_quotas (project_id) {
        project_id -> Text,
        secrets -> Nullable<Integer>,
        orders -> Nullable<Integer>,
        containers -> Nullable<Integer>,
        consumers -> Nullable<Integer>,
        cas -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    secret_stores (id) {
        id -> Text,
        name -> Text,
        store_plugin -> Text,
        crypto_plugin -> Nullable<Text>,
        global_default -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    project_secret_stores (project_id) {
        project_id -> Text,
        secret_store_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(container_secrets -> containers (container_id));
diesel::joinable!(container_secrets -> secrets (secret_id));
diesel::joinable!(project_secret_stores -> secret_stores (secret_store_id));

diesel::allow_tables_to_appear_in_same_query!(
    secrets,
    project_keks,
    secret_metadata,
    secret_consumers,
    containers,
    container_secrets,
    container_consumers,
    orders,
    project_quotas,
    secret_stores,
    project_secret_stores,
);
