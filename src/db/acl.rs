//! The `read` ACL of a secret or container, kept in the entity's own row (one query serves
//! both the entity and its policy check). Users are a JSON array of strings.

use chrono::NaiveDateTime;

use crate::model::Acl;

type Columns = (
    Option<bool>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

impl Acl {
    /// Decode the ACL columns; `None` when the entity has no ACL.
    pub fn from_columns(
        project_access: Option<bool>,
        users: Option<&str>,
        created_at: Option<NaiveDateTime>,
        updated_at: Option<NaiveDateTime>,
    ) -> Option<Acl> {
        let project_access = project_access?;
        let users: Vec<String> = users
            .and_then(|u| serde_json::from_str(u).ok())
            .unwrap_or_default();
        let created_at = created_at?;
        Some(Acl {
            project_access,
            users,
            created_at,
            updated_at: updated_at.unwrap_or(created_at),
        })
    }
}

/// The column values for an ACL (all NULL for none).
pub fn to_columns(acl: Option<&Acl>) -> Columns {
    match acl {
        None => (None, None, None, None),
        Some(a) => (
            Some(a.project_access),
            Some(serde_json::to_string(&a.users).unwrap_or_else(|_| "[]".into())),
            Some(a.created_at),
            Some(a.updated_at),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = crate::timefmt::now();
        let a = Acl {
            project_access: false,
            users: vec!["u1".into(), "a\"b".into()],
            created_at: t,
            updated_at: t,
        };
        let (p, u, c, up) = to_columns(Some(&a));
        assert_eq!(Acl::from_columns(p, u.as_deref(), c, up), Some(a));
        assert_eq!(to_columns(None), (None, None, None, None));
        assert_eq!(Acl::from_columns(None, None, None, None), None);
    }
}
