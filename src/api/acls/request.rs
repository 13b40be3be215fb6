//! Reading ACL requests: the `PUT`/`PATCH` body of an ACL (its `read` entry), with Barbican's
//! messages.

use serde_json::Value;

use crate::api::support::schema::{body_object, no_additional, At, Errors, Step};
use crate::api::support::validate::parse_json;
use crate::error::ApiError;
use crate::service::acls::AclChange;

/// Validate an ACL body; `None` when it names no operation (or an empty one).
pub fn acl(body: &[u8]) -> Result<Option<AclChange>, ApiError> {
    let value = parse_json(body, "ACL", &[])?;
    let mut e = Errors::new("ACL");
    let o = body_object(&mut e, &value)?;
    let mut change = None;
    if let Some(read) = o.get("read") {
        let base = vec![Step::Key("read".into())];
        match read {
            Value::Object(r) => {
                let mut c = AclChange::default();
                if let Some(users) = r.get("users") {
                    let mut path = base.clone();
                    path.push(Step::Key("users".into()));
                    match users {
                        Value::Array(items) => {
                            let mut list = Vec::new();
                            for (i, item) in items.iter().enumerate() {
                                let mut p = path.clone();
                                p.push(Step::Index(i));
                                let mut at = At {
                                    errors: &mut e,
                                    path: p,
                                    property: Some("read".into()),
                                    value: item,
                                };
                                if at.types(&["string"]) && at.length(None, Some(255)) {
                                    list.push(item.as_str().unwrap_or_default().to_owned());
                                }
                            }
                            c.users = Some(list);
                        }
                        other => e.add(
                            path,
                            format!("{} is not of type 'array'", crate::json::py_repr(other)),
                            Some("read"),
                        ),
                    }
                }
                if let Some(pa) = r.get("project-access") {
                    let mut path = base.clone();
                    path.push(Step::Key("project-access".into()));
                    let mut at = At {
                        errors: &mut e,
                        path,
                        property: Some("read".into()),
                        value: pa,
                    };
                    if at.types(&["boolean"]) {
                        c.project_access = pa.as_bool();
                    }
                }
                no_additional(&mut e, r, &["users", "project-access"], base, Some("read"));
                if !r.is_empty() {
                    change = Some(c);
                }
            }
            other => e.add(
                base,
                format!("{} is not of type 'object'", crate::json::py_repr(other)),
                Some("read"),
            ),
        }
    }
    no_additional(&mut e, o, &["read"], Vec::new(), None);
    e.into_result()?;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acl_rules() {
        let err = |v: serde_json::Value| {
            acl(v.to_string().as_bytes())
                .err()
                .map(|e| e.description().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(
            err(json!({"write": {"users": ["u1"]}})),
            "Provided object does not match schema 'ACL': Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'"
        );
        assert!(err(json!({"read": {"project-access": "yes"}}))
            .contains("'yes' is not of type 'boolean'. Invalid property: 'read'"));
        assert!(err(json!({"read": {"users": "u1"}}))
            .contains("'u1' is not of type 'array'. Invalid property: 'read'"));
        assert!(err(json!({"read": {"bogus": 1}}))
            .contains("('bogus' was unexpected). Invalid property: 'read'"));
        assert_eq!(acl(b"{}").unwrap(), None);
        assert_eq!(acl(br#"{"read": {}}"#).unwrap(), None);
        assert_eq!(
            acl(br#"{"read": {"users": ["a"], "project-access": false}}"#).unwrap(),
            Some(AclChange {
                project_access: Some(false),
                users: Some(vec!["a".into()])
            })
        );
    }
}
