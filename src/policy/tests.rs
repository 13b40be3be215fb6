use super::*;

fn caller(project: &str, user: Option<&str>, roles: &[&str]) -> AuthContext {
    AuthContext {
        project_id: project.into(),
        user_id: user.map(Into::into),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn secret(c: &AuthContext, acl: Option<&ReadAcl>) -> Target {
    entity_target(
        Entity::Secret,
        "p1",
        Some("u1"),
        acl.unwrap_or(&ReadAcl::open()),
        c,
    )
}

/// The legacy matrix for a secret of project p1 created by u1, with no ACL, for callers in p1
/// who are not its creator.
#[test]
fn secret_role_matrix_same_project() {
    let p = Policy::legacy();
    let actions = [
        "secrets:post",
        "secrets:get",
        "secret:get",
        "secret:decrypt",
        "secret:put",
        "secret:delete",
    ];
    let table: [(&str, [bool; 6]); 7] = [
        ("admin", [true, true, true, true, true, true]),
        ("creator", [true, true, true, true, true, true]),
        ("observer", [false, true, true, true, false, false]),
        ("audit", [false, false, true, false, false, false]),
        (
            "key-manager:service-admin",
            [false, false, true, false, false, false],
        ),
        ("reader", [false; 6]),
        ("member", [false; 6]),
    ];
    let open = ReadAcl::open();
    for (role, expected) in table {
        let c = caller("p1", Some("u2"), &[role]);
        let t = secret(&c, Some(&open));
        let got: Vec<bool> = actions.iter().map(|a| p.allows(a, &c, &t)).collect();
        assert_eq!(got, expected, "role {role}");
    }
}

#[test]
fn other_projects_are_refused_every_per_secret_action() {
    let p = Policy::legacy();
    for role in ["admin", "creator", "observer", "audit"] {
        let c = caller("p2", Some("u1"), &[role]);
        let t = secret(&c, Some(&ReadAcl::open()));
        for a in [
            "secret:get",
            "secret:decrypt",
            "secret:put",
            "secret:delete",
            "secret_meta:get",
            "secret_acls:get",
        ] {
            assert!(!p.allows(a, &c, &t), "{role} {a}");
        }
    }
}

#[test]
fn private_secrets_need_ownership_admin_or_acl() {
    let p = Policy::legacy();
    let acl = ReadAcl {
        project_access: false,
        users: vec!["u9".into()],
    };
    let observer = caller("p1", Some("u2"), &["observer"]);
    assert!(!p.allows("secret:get", &observer, &secret(&observer, Some(&acl))));
    assert!(!p.allows("secret:decrypt", &observer, &secret(&observer, Some(&acl))));
    let other_creator = caller("p1", Some("u2"), &["creator"]);
    assert!(!p.allows(
        "secret:decrypt",
        &other_creator,
        &secret(&other_creator, Some(&acl))
    ));
    assert!(!p.allows(
        "secret:delete",
        &other_creator,
        &secret(&other_creator, Some(&acl))
    ));
    let owner = caller("p1", Some("u1"), &["creator"]);
    assert!(p.allows("secret:decrypt", &owner, &secret(&owner, Some(&acl))));
    assert!(p.allows("secret:delete", &owner, &secret(&owner, Some(&acl))));
    let admin = caller("p1", None, &["admin"]);
    assert!(p.allows("secret:decrypt", &admin, &secret(&admin, Some(&acl))));
    // An ACL user reads across projects, whatever its roles.
    let acl_user = caller("p7", Some("u9"), &[]);
    assert!(p.allows("secret:get", &acl_user, &secret(&acl_user, Some(&acl))));
    assert!(p.allows("secret:decrypt", &acl_user, &secret(&acl_user, Some(&acl))));
    assert!(!p.allows("secret:delete", &acl_user, &secret(&acl_user, Some(&acl))));
    // The ACL endpoints honour privacy too: only the owner, or an admin, changes a private ACL;
    // observers of the project still read it.
    assert!(!p.allows(
        "secret_acls:put_patch",
        &other_creator,
        &secret(&other_creator, Some(&acl))
    ));
    assert!(p.allows("secret_acls:put_patch", &owner, &secret(&owner, Some(&acl))));
    assert!(p.allows("secret_acls:get", &observer, &secret(&observer, Some(&acl))));
}

#[test]
fn orders_quotas_stores() {
    let p = Policy::legacy();
    let t = order_target("p1", None);
    let audit = caller("p1", None, &["audit"]);
    assert!(p.allows("order:get", &audit, &t));
    assert!(!p.allows("order:delete", &audit, &t));
    assert!(!p.allows("orders:post", &audit, &Target::new()));
    assert!(p.allows("order:delete", &caller("p1", None, &["admin"]), &t));
    assert!(!p.allows("order:delete", &caller("p2", None, &["admin"]), &t));
    let sa = caller("p1", None, &["key-manager:service-admin"]);
    assert!(p.allows("project_quotas:put", &sa, &Target::new()));
    assert!(!p.allows(
        "project_quotas:put",
        &caller("p1", None, &["admin"]),
        &Target::new()
    ));
    assert!(p.allows(
        "secretstore_preferred:post",
        &caller("p1", None, &["admin"]),
        &Target::new()
    ));
    assert!(!p.allows(
        "secretstore_preferred:post",
        &caller("p1", None, &["creator"]),
        &Target::new()
    ));
    assert!(!p.allows(
        "no-such-action",
        &caller("p1", None, &["admin"]),
        &Target::new()
    ));
}

#[test]
fn a_policy_file_overrides_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(
        &path,
        "\"secrets:post\": \"role:admin\"\n'orders:get': '@'\n",
    )
    .unwrap();
    let p = Policy::load(Defaults::Legacy, Some(&path)).unwrap();
    assert!(!p.allows(
        "secrets:post",
        &caller("p", None, &["creator"]),
        &Target::new()
    ));
    assert!(p.allows("orders:get", &caller("p", None, &[]), &Target::new()));
    assert!(p.allows(
        "secrets:get",
        &caller("p", None, &["observer"]),
        &Target::new()
    ));

    std::fs::write(&path, "{\"secrets:get\": \"rule:admin or\"}").unwrap();
    let err = format!(
        "{:#}",
        Policy::load(Defaults::Legacy, Some(&path)).unwrap_err()
    );
    assert!(err.contains("secrets:get"), "{err}");
    std::fs::write(&path, "- a list").unwrap();
    assert!(Policy::load(Defaults::Legacy, Some(&path)).is_err());
    assert!(Policy::load(Defaults::Legacy, Some(&dir.path().join("missing.yaml"))).is_err());
}

/// The rules a check refers to (`rule:NAME`).
fn refs(c: &Check, out: &mut Vec<String>) {
    match c {
        Check::Rule(r) => out.push(r.clone()),
        Check::Not(i) => refs(i, out),
        Check::And(v) | Check::Or(v) => v.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

#[test]
fn every_builtin_rule_parses_and_references_existing_rules() {
    let p = Policy::legacy();
    for (name, rule) in &p.rules {
        let mut names = Vec::new();
        refs(rule, &mut names);
        for n in names {
            assert!(
                p.rules.contains_key(&n),
                "{name} refers to missing rule {n}"
            );
        }
    }
}

/// Roles as a Keystone token carries them: implied roles expanded (admin ⊃ member ⊃ reader).
fn keystone_roles(role: &str) -> Vec<&'static str> {
    match role {
        "admin" => vec!["admin", "member", "reader"],
        "member" => vec!["member", "reader"],
        "reader" => vec!["reader"],
        "creator" => vec!["creator"],
        "observer" => vec!["observer"],
        _ => vec![],
    }
}

/// The secure-RBAC matrix for a secret of project p1 created by u1 (readable by the project),
/// for callers who are not its creator: in p1, and admins of another project p2.
#[test]
fn secure_rbac_secret_matrix() {
    let p = Policy::defaults(Defaults::SecureRbac);
    let actions = [
        "secrets:post",
        "secrets:get",
        "secret:get",
        "secret:decrypt",
        "secret:put",
        "secret:delete",
        "secret_meta:get",
        "secret_meta:put",
        "secret_acls:put_patch",
    ];
    let table: [(&str, &str, [bool; 9]); 8] = [
        ("p1", "admin", [true; 9]),
        ("p1", "member", [true; 9]),
        ("p1", "reader", [false; 9]),
        // The legacy roles mean nothing under the new defaults.
        ("p1", "creator", [false; 9]),
        ("p1", "observer", [false; 9]),
        // Barbican lets an admin of any project see and delete a secret's metadata, not read
        // its payload or change it.
        (
            "p2",
            "admin",
            [true, true, true, false, false, true, false, false, false],
        ),
        (
            "p2",
            "member",
            [true, true, false, false, false, false, false, false, false],
        ),
        ("p2", "reader", [false; 9]),
    ];
    for (project, role, expected) in table {
        let c = caller(project, Some("u2"), &keystone_roles(role));
        let t = secret(&c, None);
        let got: Vec<bool> = actions.iter().map(|a| p.allows(a, &c, &t)).collect();
        assert_eq!(got, expected, "{role} of {project}");
    }
}

#[test]
fn secure_rbac_private_secrets_and_acls() {
    let p = Policy::defaults(Defaults::SecureRbac);
    let private = ReadAcl {
        project_access: false,
        users: vec!["u9".into()],
    };
    let member = caller("p1", Some("u2"), &keystone_roles("member"));
    let owner = caller("p1", Some("u1"), &keystone_roles("member"));
    let admin = caller("p1", Some("u3"), &keystone_roles("admin"));
    for a in [
        "secret:get",
        "secret:decrypt",
        "secret:put",
        "secret:delete",
    ] {
        assert!(
            !p.allows(a, &member, &secret(&member, Some(&private))),
            "member {a}"
        );
        assert!(
            p.allows(a, &owner, &secret(&owner, Some(&private))),
            "owner {a}"
        );
        assert!(
            p.allows(a, &admin, &secret(&admin, Some(&private))),
            "admin {a}"
        );
    }
    // A user on the ACL reads from any project with any role (or none), and changes nothing.
    let acl_user = caller("p7", Some("u9"), &[]);
    let t = secret(&acl_user, Some(&private));
    assert!(p.allows("secret:get", &acl_user, &t));
    assert!(p.allows("secret:decrypt", &acl_user, &t));
    assert!(p.allows("secret_meta:get", &acl_user, &t));
    assert!(!p.allows("secret:put", &acl_user, &t));
    assert!(!p.allows("secret:delete", &acl_user, &t));
    assert!(!p.allows("secret_acls:put_patch", &acl_user, &t));
}

#[test]
fn secure_rbac_containers_orders_quotas_stores() {
    let p = Policy::defaults(Defaults::SecureRbac);
    let member = caller("p1", Some("u2"), &keystone_roles("member"));
    let reader = caller("p1", Some("u2"), &keystone_roles("reader"));
    let admin = caller("p1", Some("u3"), &keystone_roles("admin"));
    let container =
        |c: &AuthContext| entity_target(Entity::Container, "p1", Some("u1"), &ReadAcl::open(), c);
    for a in ["containers:post", "container:get", "container:delete"] {
        assert!(p.allows(a, &member, &container(&member)), "member {a}");
        assert!(!p.allows(a, &reader, &container(&reader)), "reader {a}");
    }
    let order = order_target("p1", Some("u1"));
    assert!(p.allows("orders:post", &member, &Target::new()));
    assert!(p.allows("order:get", &member, &order));
    assert!(p.allows("order:delete", &member, &order));
    assert!(!p.allows("orders:post", &reader, &Target::new()));
    assert!(!p.allows("order:get", &reader, &order));
    let other_member = caller("p2", Some("u2"), &keystone_roles("member"));
    assert!(!p.allows("order:get", &other_member, &order));
    // Quotas: anyone in the project reads its effective quotas; project admins manage them
    // (the legacy key-manager:service-admin role no longer does).
    assert!(p.allows("quotas:get", &reader, &Target::new()));
    assert!(p.allows("project_quotas:put", &admin, &Target::new()));
    assert!(!p.allows("project_quotas:put", &member, &Target::new()));
    let service_admin = caller("p1", None, &["key-manager:service-admin"]);
    assert!(!p.allows("project_quotas:put", &service_admin, &Target::new()));
    assert!(p.allows("secretstores:get", &reader, &Target::new()));
    assert!(p.allows("secretstore_preferred:post", &admin, &Target::new()));
    assert!(!p.allows("secretstore_preferred:post", &member, &Target::new()));
}

#[test]
fn secure_rbac_rules_reference_existing_rules_and_cover_the_legacy_actions() {
    let legacy = Policy::legacy();
    let new = Policy::defaults(Defaults::SecureRbac);
    for (name, rule) in &new.rules {
        let mut names = Vec::new();
        refs(rule, &mut names);
        for n in names {
            assert!(
                new.rules.contains_key(&n),
                "{name} refers to missing rule {n}"
            );
        }
    }
    // Every action (a name with a colon) has a new default, so no legacy rule leaks through.
    let replaced: std::collections::HashSet<&str> = defaults::SECURE_RBAC_RULES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for name in legacy.rule_names().filter(|n| n.contains(':')) {
        assert!(replaced.contains(name), "{name} has no secure-RBAC default");
    }
}
