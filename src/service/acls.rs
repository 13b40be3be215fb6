//! ACLs of secrets and containers: only the `read` operation, with its user list and its
//! `project-access` flag. Stored in the entity's row.

use super::{Operation, ServiceError};
use crate::db::{containers as container_db, secrets as secret_db};
use crate::model::Acl;
use crate::timefmt;

use super::Services;

/// A requested change to the `read` ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclChange {
    /// `None`: leave as is (PATCH) or default to true (PUT).
    pub project_access: Option<bool>,
    /// `None`: leave as is (PATCH) or empty (PUT).
    pub users: Option<Vec<String>>,
}

/// Whose ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOwner<'a> {
    Secret(&'a str),
    Container(&'a str),
}

/// The policy view of an optional ACL (none: the implicit open one).
pub fn read_acl(acl: Option<&Acl>) -> crate::policy::ReadAcl {
    match acl {
        Some(a) => crate::policy::ReadAcl {
            project_access: a.project_access,
            users: a.users.clone(),
        },
        None => crate::policy::ReadAcl::open(),
    }
}

fn dedup(users: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(users.len());
    for u in users {
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// The ACL after PUT (`replace`) or PATCH of `change` onto `current`. `change` of `None`
/// (the body named no operation) removes the ACL on PUT and keeps it on PATCH.
pub fn apply(current: Option<&Acl>, change: Option<&AclChange>, replace: bool) -> Option<Acl> {
    let now = timefmt::now();
    let Some(change) = change else {
        return if replace { None } else { current.cloned() };
    };
    let created_at = current.map_or(now, |c| c.created_at);
    if replace {
        return Some(Acl {
            project_access: change.project_access.unwrap_or(true),
            users: dedup(change.users.clone().unwrap_or_default()),
            created_at,
            updated_at: now,
        });
    }
    Some(Acl {
        project_access: change
            .project_access
            .or(current.map(|c| c.project_access))
            .unwrap_or(true),
        users: match &change.users {
            Some(u) => dedup(u.clone()),
            None => current.map(|c| c.users.clone()).unwrap_or_default(),
        },
        created_at,
        updated_at: now,
    })
}

/// The `read` ACL of a secret or a container: store (replace, change or remove) it.
///
/// A view of [`Services`] (`services.acls()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct Acls<'a> {
    s: &'a Services,
}

impl Services {
    pub fn acls(&self) -> Acls<'_> {
        Acls { s: self }
    }
}

impl Acls<'_> {
    /// Store an entity's new ACL (`None` removes it).
    pub fn store(
        &self,
        owner: AclOwner<'_>,
        acl: Option<&Acl>,
        operation: Operation,
    ) -> Result<(), ServiceError> {
        let acl = acl.cloned();
        match owner {
            AclOwner::Secret(id) => {
                let id = id.to_owned();
                self.s
                    .write(operation, move |c| secret_db::set_acl(c, &id, acl.as_ref()))
            }
            AclOwner::Container(id) => {
                let id = id.to_owned();
                self.s.write(operation, move |c| {
                    container_db::set_acl(c, &id, acl.as_ref())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(access: bool, users: &[&str]) -> Acl {
        let t = timefmt::now();
        Acl {
            project_access: access,
            users: users.iter().map(|u| u.to_string()).collect(),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn no_acl_reads_as_the_open_one() {
        assert_eq!(read_acl(None), crate::policy::ReadAcl::open());
        let closed = read_acl(Some(&acl(false, &["u1"])));
        assert!(!closed.project_access);
        assert_eq!(closed.users, vec!["u1"]);
    }

    #[test]
    fn put_replaces_with_defaults() {
        let cur = acl(false, &["u1"]);
        let new = apply(
            Some(&cur),
            Some(&AclChange {
                project_access: None,
                users: Some(vec!["u2".into(), "u2".into()]),
            }),
            true,
        )
        .unwrap();
        assert!(new.project_access);
        assert_eq!(new.users, vec!["u2"]);
        assert_eq!(new.created_at, cur.created_at);
        assert_eq!(apply(Some(&cur), None, true), None);
    }

    #[test]
    fn patch_keeps_what_it_does_not_name() {
        let cur = acl(false, &["u1"]);
        let new = apply(
            Some(&cur),
            Some(&AclChange {
                project_access: None,
                users: Some(vec!["u3".into()]),
            }),
            false,
        )
        .unwrap();
        assert!(!new.project_access);
        assert_eq!(new.users, vec!["u3"]);
        let new = apply(
            Some(&cur),
            Some(&AclChange {
                project_access: Some(true),
                users: None,
            }),
            false,
        )
        .unwrap();
        assert!(new.project_access);
        assert_eq!(new.users, vec!["u1"]);
        assert_eq!(apply(Some(&cur), None, false), Some(cur.clone()));
        let fresh = apply(None, Some(&AclChange::default()), false).unwrap();
        assert!(fresh.project_access && fresh.users.is_empty());
    }
}
