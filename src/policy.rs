//! Authorization: Barbican's default (legacy) role matrix, in one place.
//!
//! Roles: `admin`, `creator`, `observer`, `audit`, `key-manager:service-admin`. Project-scoped
//! rules compare the caller's project with the target's; per-secret ACLs (read users and the
//! `project-access` flag) refine reads.

use plugin_api::AuthContext;

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `secrets:post`
    SecretsCreate,
    /// `secrets:get`
    SecretsList,
    /// `secret:get` (metadata)
    SecretRead,
    /// `secret:decrypt` (payload)
    SecretDecrypt,
    /// `secret:put` (two-step payload upload)
    SecretPut,
    /// `secret:delete`
    SecretDelete,
}

/// What policy needs to know about the secret acted on.
#[derive(Debug, Clone, Copy)]
pub struct SecretTarget<'a> {
    pub project_id: &'a str,
    pub creator_id: Option<&'a str>,
    /// The `read` ACL's `project-access` flag (true when there is no ACL).
    pub read_project_access: bool,
    /// Users on the `read` ACL.
    pub read_users: &'a [String],
}

impl<'a> SecretTarget<'a> {
    /// A secret without ACLs.
    pub fn new(project_id: &'a str, creator_id: Option<&'a str>) -> Self {
        SecretTarget {
            project_id,
            creator_id,
            read_project_access: true,
            read_users: &[],
        }
    }
}

struct Ctx<'a> {
    caller: &'a AuthContext,
}

impl Ctx<'_> {
    fn role(&self, r: &str) -> bool {
        self.caller.has_role(r)
    }
    fn admin(&self) -> bool {
        self.role("admin")
    }
    fn creator(&self) -> bool {
        self.role("creator")
    }
    fn all_users(&self) -> bool {
        self.admin()
            || self.role("observer")
            || self.creator()
            || self.role("audit")
            || self.role("key-manager:service-admin")
    }
    fn all_but_audit(&self) -> bool {
        self.admin() || self.role("observer") || self.creator()
    }
    fn admin_or_creator(&self) -> bool {
        self.admin() || self.creator()
    }
    fn project_match(&self, t: &SecretTarget<'_>) -> bool {
        self.caller.project_id == t.project_id
    }
    /// oslo.policy compares `str(user_id)` with the formatted target, so an absent user and an
    /// absent creator match (both print as `None`).
    fn is_creator_user(&self, t: &SecretTarget<'_>) -> bool {
        self.caller.user_id.as_deref() == t.creator_id
    }
    fn acl_read(&self, t: &SecretTarget<'_>) -> bool {
        self.caller
            .user_id
            .as_ref()
            .is_some_and(|u| t.read_users.iter().any(|r| r == u))
    }
    fn project_creator(&self, t: &SecretTarget<'_>) -> bool {
        self.creator() && self.project_match(t) && self.is_creator_user(t)
    }
    fn project_admin(&self, t: &SecretTarget<'_>) -> bool {
        self.admin() && self.project_match(t)
    }
}

/// Whether `caller` may perform `action` (on `target`, for per-secret actions).
pub fn allowed(action: Action, caller: &AuthContext, target: Option<&SecretTarget<'_>>) -> bool {
    let c = Ctx { caller };
    match (action, target) {
        (Action::SecretsCreate, _) => c.admin_or_creator(),
        (Action::SecretsList, _) => c.all_but_audit(),
        (_, None) => false,
        (Action::SecretRead, Some(t)) => {
            (c.all_users() && c.project_match(t) && t.read_project_access)
                || c.project_creator(t)
                || c.project_admin(t)
                || c.acl_read(t)
        }
        (Action::SecretDecrypt, Some(t)) => {
            (c.all_but_audit() && c.project_match(t) && t.read_project_access)
                || c.project_creator(t)
                || c.project_admin(t)
                || c.acl_read(t)
        }
        (Action::SecretPut, Some(t)) => c.admin_or_creator() && c.project_match(t),
        (Action::SecretDelete, Some(t)) => {
            c.project_admin(t)
                || c.project_creator(t)
                || (c.creator() && c.project_match(t) && t.read_project_access)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(project: &str, user: Option<&str>, roles: &[&str]) -> AuthContext {
        AuthContext {
            project_id: project.into(),
            user_id: user.map(Into::into),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The legacy matrix for a secret of project p1 created by u1, with no ACL, for callers in
    /// p1 who are not its creator: (role, create, list, read, decrypt, put, delete).
    #[test]
    fn role_matrix_same_project() {
        let table = [
            ("admin", true, true, true, true, true, true),
            ("creator", true, true, true, true, true, true),
            ("observer", false, true, true, true, false, false),
            ("audit", false, false, true, false, false, false),
            (
                "key-manager:service-admin",
                false,
                false,
                true,
                false,
                false,
                false,
            ),
            ("reader", false, false, false, false, false, false),
            ("member", false, false, false, false, false, false),
        ];
        let t = SecretTarget::new("p1", Some("u1"));
        for (role, create, list, read, decrypt, put, delete) in table {
            let c = caller("p1", Some("u2"), &[role]);
            let got = (
                allowed(Action::SecretsCreate, &c, None),
                allowed(Action::SecretsList, &c, None),
                allowed(Action::SecretRead, &c, Some(&t)),
                allowed(Action::SecretDecrypt, &c, Some(&t)),
                allowed(Action::SecretPut, &c, Some(&t)),
                allowed(Action::SecretDelete, &c, Some(&t)),
            );
            assert_eq!(
                got,
                (create, list, read, decrypt, put, delete),
                "role {role}"
            );
        }
    }

    #[test]
    fn other_projects_are_refused_every_per_secret_action() {
        let t = SecretTarget::new("p1", Some("u1"));
        for role in ["admin", "creator", "observer", "audit"] {
            let c = caller("p2", Some("u1"), &[role]);
            for a in [
                Action::SecretRead,
                Action::SecretDecrypt,
                Action::SecretPut,
                Action::SecretDelete,
            ] {
                assert!(!allowed(a, &c, Some(&t)), "{role} {a:?}");
            }
        }
    }

    #[test]
    fn private_secrets_need_ownership_admin_or_acl() {
        let users = vec!["u9".to_owned()];
        let t = SecretTarget {
            project_id: "p1",
            creator_id: Some("u1"),
            read_project_access: false,
            read_users: &users,
        };
        let observer = caller("p1", Some("u2"), &["observer"]);
        assert!(!allowed(Action::SecretRead, &observer, Some(&t)));
        assert!(!allowed(Action::SecretDecrypt, &observer, Some(&t)));
        let other_creator = caller("p1", Some("u2"), &["creator"]);
        assert!(!allowed(Action::SecretDecrypt, &other_creator, Some(&t)));
        assert!(!allowed(Action::SecretDelete, &other_creator, Some(&t)));
        let owner = caller("p1", Some("u1"), &["creator"]);
        assert!(allowed(Action::SecretDecrypt, &owner, Some(&t)));
        assert!(allowed(Action::SecretDelete, &owner, Some(&t)));
        let admin = caller("p1", None, &["admin"]);
        assert!(allowed(Action::SecretDecrypt, &admin, Some(&t)));
        // An ACL user reads across projects, whatever its roles.
        let acl_user = caller("p7", Some("u9"), &[]);
        assert!(allowed(Action::SecretRead, &acl_user, Some(&t)));
        assert!(allowed(Action::SecretDecrypt, &acl_user, Some(&t)));
        assert!(!allowed(Action::SecretDelete, &acl_user, Some(&t)));
    }

    #[test]
    fn absent_user_matches_absent_creator_like_oslo_policy() {
        let t = SecretTarget {
            read_project_access: false,
            ..SecretTarget::new("p1", None)
        };
        assert!(allowed(
            Action::SecretDecrypt,
            &caller("p1", None, &["creator"]),
            Some(&t)
        ));
        assert!(!allowed(
            Action::SecretDecrypt,
            &caller("p1", Some("u1"), &["creator"]),
            Some(&t)
        ));
        assert!(!allowed(
            Action::SecretRead,
            &caller("p1", None, &["creator"]),
            None
        ));
    }
}
