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
    let p = Policy::load(Some(&path)).unwrap();
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
    let err = format!("{:#}", Policy::load(Some(&path)).unwrap_err());
    assert!(err.contains("secrets:get"), "{err}");
    std::fs::write(&path, "- a list").unwrap();
    assert!(Policy::load(Some(&path)).is_err());
    assert!(Policy::load(Some(&dir.path().join("missing.yaml"))).is_err());
}

#[test]
fn every_builtin_rule_parses_and_references_existing_rules() {
    let p = Policy::legacy();
    fn refs(c: &Check, out: &mut Vec<String>) {
        match c {
            Check::Rule(r) => out.push(r.clone()),
            Check::Not(i) => refs(i, out),
            Check::And(v) | Check::Or(v) => v.iter().for_each(|i| refs(i, out)),
            _ => {}
        }
    }
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
