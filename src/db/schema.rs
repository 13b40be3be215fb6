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
