//! The default rule table: Barbican's legacy policy (the rules in force with oslo.policy's
//! `enforce_new_defaults = False`), in oslo.policy syntax. A policy file may override any rule.

/// `(rule name, check string)`.
pub const LEGACY_RULES: &[(&str, &str)] = &[
    // Building blocks.
    ("audit", "role:audit"),
    ("observer", "role:observer"),
    ("creator", "role:creator"),
    ("admin", "role:admin"),
    ("service_admin", "role:key-manager:service-admin"),
    (
        "all_users",
        "rule:admin or rule:observer or rule:creator or rule:audit or rule:service_admin",
    ),
    (
        "all_but_audit",
        "rule:admin or rule:observer or rule:creator",
    ),
    ("admin_or_creator", "rule:admin or rule:creator"),
    (
        "secret_project_match",
        "project_id:%(target.secret.project_id)s",
    ),
    (
        "secret_project_reader",
        "role:reader and rule:secret_project_match",
    ),
    (
        "secret_project_member",
        "role:member and rule:secret_project_match",
    ),
    (
        "secret_project_admin",
        "role:admin and rule:secret_project_match",
    ),
    ("secret_owner", "user_id:%(target.secret.creator_id)s"),
    (
        "secret_is_not_private",
        "True:%(target.secret.read_project_access)s",
    ),
    ("secret_acl_read", "'read':%(target.secret.read)s"),
    (
        "secret_creator_user",
        "user_id:%(target.secret.creator_id)s",
    ),
    (
        "secret_private_read",
        "'False':%(target.secret.read_project_access)s",
    ),
    (
        "secret_non_private_read",
        "rule:all_users and rule:secret_project_match and not rule:secret_private_read",
    ),
    (
        "secret_decrypt_non_private_read",
        "rule:all_but_audit and rule:secret_project_match and not rule:secret_private_read",
    ),
    (
        "secret_project_creator",
        "rule:creator and rule:secret_project_match and rule:secret_creator_user",
    ),
    (
        "secret_project_creator_role",
        "rule:creator and rule:secret_project_match",
    ),
    (
        "container_project_match",
        "project_id:%(target.container.project_id)s",
    ),
    (
        "container_project_member",
        "role:member and rule:container_project_match",
    ),
    (
        "container_project_admin",
        "role:admin and rule:container_project_match",
    ),
    ("container_owner", "user_id:%(target.container.creator_id)s"),
    (
        "container_is_not_private",
        "True:%(target.container.read_project_access)s",
    ),
    ("container_acl_read", "'read':%(target.container.read)s"),
    (
        "container_private_read",
        "'False':%(target.container.read_project_access)s",
    ),
    (
        "container_creator_user",
        "user_id:%(target.container.creator_id)s",
    ),
    (
        "container_non_private_read",
        "rule:all_users and rule:container_project_match and not rule:container_private_read",
    ),
    (
        "container_project_creator",
        "rule:creator and rule:container_project_match and rule:container_creator_user",
    ),
    (
        "container_project_creator_role",
        "rule:creator and rule:container_project_match",
    ),
    (
        "order_project_match",
        "project_id:%(target.order.project_id)s",
    ),
    (
        "order_project_member",
        "role:member and rule:order_project_match",
    ),
    // Secrets.
    ("secrets:post", "rule:admin_or_creator"),
    ("secrets:get", "rule:all_but_audit"),
    (
        "secret:get",
        "rule:secret_non_private_read or rule:secret_project_creator or \
         rule:secret_project_admin or rule:secret_acl_read",
    ),
    (
        "secret:decrypt",
        "rule:secret_decrypt_non_private_read or rule:secret_project_creator or \
         rule:secret_project_admin or rule:secret_acl_read",
    ),
    (
        "secret:put",
        "rule:admin_or_creator and rule:secret_project_match",
    ),
    (
        "secret:delete",
        "rule:secret_project_admin or rule:secret_project_creator or \
         (rule:secret_project_creator_role and not rule:secret_private_read)",
    ),
    // Secret user metadata.
    (
        "secret_meta:get",
        "rule:secret_non_private_read or rule:secret_project_creator or \
         rule:secret_project_admin or rule:secret_acl_read",
    ),
    (
        "secret_meta:post",
        "rule:secret_project_admin or rule:secret_project_creator or \
         (rule:secret_project_creator_role and rule:secret_non_private_read)",
    ),
    (
        "secret_meta:put",
        "rule:secret_project_admin or rule:secret_project_creator or \
         (rule:secret_project_creator_role and rule:secret_non_private_read)",
    ),
    (
        "secret_meta:delete",
        "rule:secret_project_admin or rule:secret_project_creator or \
         (rule:secret_project_creator_role and rule:secret_non_private_read)",
    ),
    // ACLs.
    (
        "secret_acls:get",
        "rule:all_but_audit and rule:secret_project_match",
    ),
    (
        "secret_acls:delete",
        "rule:secret_project_admin or rule:secret_project_creator or \
         (rule:secret_project_creator_role and rule:secret_non_private_read)",
    ),
    (
        "secret_acls:put_patch",
        "rule:secret_project_admin or rule:secret_project_creator or \
         (rule:secret_project_creator_role and rule:secret_non_private_read)",
    ),
    (
        "container_acls:get",
        "rule:all_but_audit and rule:container_project_match",
    ),
    (
        "container_acls:delete",
        "rule:container_project_admin or rule:container_project_creator or \
         (rule:container_project_creator_role and rule:container_non_private_read)",
    ),
    (
        "container_acls:put_patch",
        "rule:container_project_admin or rule:container_project_creator or \
         (rule:container_project_creator_role and rule:container_non_private_read)",
    ),
    // Containers.
    ("containers:post", "rule:admin_or_creator"),
    ("containers:get", "rule:all_but_audit"),
    (
        "container:get",
        "rule:container_non_private_read or rule:container_project_creator or \
         rule:container_project_admin or rule:container_acl_read",
    ),
    (
        "container:delete",
        "rule:container_project_admin or rule:container_project_creator",
    ),
    (
        "container_secret:post",
        "rule:container_project_admin or rule:container_project_creator or \
         rule:container_project_creator_role and rule:container_non_private_read",
    ),
    (
        "container_secret:delete",
        "rule:container_project_admin or rule:container_project_creator or \
         rule:container_project_creator_role and rule:container_non_private_read",
    ),
    // Consumers.
    (
        "consumer:get",
        "rule:admin or rule:observer or rule:creator or rule:audit or \
         rule:container_non_private_read or rule:container_project_creator or \
         rule:container_project_admin or rule:container_acl_read",
    ),
    (
        "container_consumers:get",
        "rule:container_non_private_read or rule:container_project_creator or \
         rule:container_project_admin or rule:container_acl_read",
    ),
    (
        "container_consumers:post",
        "rule:container_non_private_read or rule:container_project_creator or \
         rule:container_project_admin or rule:container_acl_read",
    ),
    (
        "container_consumers:delete",
        "rule:container_non_private_read or rule:container_project_creator or \
         rule:container_project_admin or rule:container_acl_read",
    ),
    (
        "secret_consumers:get",
        "rule:secret_non_private_read or rule:secret_project_creator or \
         rule:secret_project_admin or rule:secret_acl_read",
    ),
    (
        "secret_consumers:post",
        "rule:secret_non_private_read or rule:secret_project_creator or \
         rule:secret_project_admin or rule:secret_acl_read",
    ),
    (
        "secret_consumers:delete",
        "rule:secret_non_private_read or rule:secret_project_creator or \
         rule:secret_project_admin or rule:secret_acl_read",
    ),
    // Orders.
    ("orders:get", "rule:all_but_audit"),
    ("orders:post", "rule:admin_or_creator"),
    ("orders:put", "rule:admin_or_creator"),
    (
        "order:get",
        "rule:all_users and project_id:%(target.order.project_id)s",
    ),
    (
        "order:delete",
        "rule:admin and project_id:%(target.order.project_id)s",
    ),
    // Quotas.
    ("quotas:get", "rule:all_users"),
    ("project_quotas:get", "rule:service_admin"),
    ("project_quotas:put", "rule:service_admin"),
    ("project_quotas:delete", "rule:service_admin"),
    // Secret stores.
    ("secretstores:get", "rule:all_users"),
    ("secretstores:get_global_default", "rule:all_users"),
    ("secretstores:get_preferred", "rule:all_users"),
    ("secretstore_preferred:post", "rule:admin"),
    ("secretstore_preferred:delete", "rule:admin"),
    ("secretstore:get", "rule:all_users"),
    // Transport keys.
    ("transport_key:get", "rule:all_users"),
    ("transport_key:delete", "rule:service_admin"),
    ("transport_keys:get", "rule:all_users"),
    ("transport_keys:post", "rule:service_admin"),
];

/// Barbican's new ("secure RBAC") defaults, in force with `enforce_new_defaults = True`:
/// reader / member / admin roles on the project of the token. Only the action rules differ
/// from [`LEGACY_RULES`]; the building blocks (`secret_project_member`, ...) are shared.
pub const SECURE_RBAC_RULES: &[(&str, &str)] = &[
    // Reused shapes, named here for readability.
    (
        "secret_member_access",
        "rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or \
         (rule:secret_project_member and rule:secret_is_not_private)",
    ),
    (
        "container_member_access",
        "rule:container_project_admin or (rule:container_project_member and \
         rule:container_owner) or (rule:container_project_member and \
         rule:container_is_not_private)",
    ),
    // Secrets.
    ("secrets:post", "role:member"),
    ("secrets:get", "role:member"),
    (
        "secret:get",
        "role:admin or rule:secret_member_access or rule:secret_acl_read",
    ),
    (
        "secret:decrypt",
        "rule:secret_member_access or rule:secret_acl_read",
    ),
    ("secret:put", "rule:secret_member_access"),
    ("secret:delete", "role:admin or rule:secret_member_access"),
    // Secret user metadata.
    (
        "secret_meta:get",
        "rule:secret_member_access or rule:secret_acl_read",
    ),
    ("secret_meta:post", "rule:secret_member_access"),
    ("secret_meta:put", "rule:secret_member_access"),
    ("secret_meta:delete", "rule:secret_member_access"),
    // ACLs.
    ("secret_acls:get", "rule:secret_member_access"),
    ("secret_acls:delete", "rule:secret_member_access"),
    ("secret_acls:put_patch", "rule:secret_member_access"),
    ("container_acls:get", "rule:container_member_access"),
    ("container_acls:delete", "rule:container_member_access"),
    ("container_acls:put_patch", "rule:container_member_access"),
    // Containers.
    ("containers:post", "role:member"),
    ("containers:get", "role:member"),
    (
        "container:get",
        "rule:container_member_access or rule:container_acl_read",
    ),
    ("container:delete", "rule:container_member_access"),
    ("container_secret:post", "rule:container_member_access"),
    ("container_secret:delete", "rule:container_member_access"),
    // Consumers.
    (
        "consumer:get",
        "role:admin or (rule:container_project_member and rule:container_owner) or \
         (rule:container_project_member and rule:container_is_not_private) or \
         rule:container_acl_read",
    ),
    (
        "container_consumers:get",
        "rule:container_member_access or rule:container_acl_read",
    ),
    (
        "container_consumers:post",
        "rule:container_member_access or rule:container_acl_read",
    ),
    (
        "container_consumers:delete",
        "rule:container_member_access or rule:container_acl_read",
    ),
    (
        "secret_consumers:get",
        "rule:secret_member_access or rule:secret_acl_read",
    ),
    (
        "secret_consumers:post",
        "rule:secret_member_access or rule:secret_acl_read",
    ),
    (
        "secret_consumers:delete",
        "rule:secret_member_access or rule:secret_acl_read",
    ),
    // Orders.
    ("orders:get", "role:member"),
    ("orders:post", "role:member"),
    ("orders:put", "role:member"),
    ("order:get", "rule:order_project_member"),
    ("order:delete", "rule:order_project_member"),
    // Quotas.
    ("quotas:get", "role:reader"),
    ("project_quotas:get", "role:admin"),
    ("project_quotas:put", "role:admin"),
    ("project_quotas:delete", "role:admin"),
    // Secret stores.
    ("secretstores:get", "role:reader"),
    ("secretstores:get_global_default", "role:reader"),
    ("secretstores:get_preferred", "role:reader"),
    ("secretstore_preferred:post", "role:admin"),
    ("secretstore_preferred:delete", "role:admin"),
    ("secretstore:get", "role:reader"),
    // Transport keys.
    ("transport_key:get", "role:reader"),
    ("transport_key:delete", "role:admin"),
    ("transport_keys:get", "role:reader"),
    ("transport_keys:post", "role:admin"),
];
