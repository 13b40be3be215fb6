//! Reading quota requests: the `PUT /v1/project-quotas/{id}` body, with Barbican's messages.

use serde_json::Value;

use crate::api::support::schema::{
    as_integer, body_object, no_additional, required, At, Errors, Step,
};
use crate::api::support::validate::parse_json;
use crate::error::ApiError;
use crate::service::quotas::QuotaValues;

/// Validate a `PUT /v1/project-quotas/{id}` body.
pub fn project_quotas(body: &[u8]) -> Result<QuotaValues, ApiError> {
    let value = parse_json(body, "Project Quota", &[])?;
    let mut e = Errors::new("Project Quota");
    let o = body_object(&mut e, &value)?;
    let mut q = QuotaValues::default();
    if let Some(pq) = o.get("project_quotas") {
        let base = vec![Step::Key("project_quotas".into())];
        match pq {
            Value::Object(m) => {
                for (name, slot) in [
                    ("secrets", &mut q.secrets),
                    ("orders", &mut q.orders),
                    ("containers", &mut q.containers),
                    ("consumers", &mut q.consumers),
                    ("cas", &mut q.cas),
                ] {
                    if let Some(v) = m.get(name) {
                        let mut path = base.clone();
                        path.push(Step::Key(name.into()));
                        let mut at = At {
                            errors: &mut e,
                            path,
                            property: Some("project_quotas".into()),
                            value: v,
                        };
                        // Quotas are stored as 32-bit integers: beyond is refused, never dropped.
                        if at.types(&["integer"])
                            && at.range(Some(i32::MIN.into()), Some(i32::MAX.into()))
                        {
                            *slot = as_integer(v).and_then(|n| i32::try_from(n).ok());
                        }
                    }
                }
                no_additional(
                    &mut e,
                    m,
                    &["secrets", "orders", "containers", "consumers", "cas"],
                    base,
                    Some("project_quotas"),
                );
            }
            other => e.add(
                base,
                format!("{} is not of type 'object'", crate::json::py_repr(other)),
                Some("project_quotas"),
            ),
        }
    }
    required(&mut e, o, &["project_quotas"]);
    no_additional(&mut e, o, &["project_quotas"], Vec::new(), None);
    e.into_result()?;
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rules() {
        let q = project_quotas(br#"{"project_quotas": {"secrets": 5, "orders": -1}}"#).unwrap();
        assert_eq!(
            (q.secrets, q.orders, q.containers),
            (Some(5), Some(-1), None)
        );
        assert!(project_quotas(br#"{"project_quotas": {"secrets": "x"}}"#)
            .unwrap_err()
            .description()
            .contains("'x' is not of type 'integer'"));
        assert!(project_quotas(br#"{}"#)
            .unwrap_err()
            .description()
            .contains("'project_quotas' is a required property"));
    }
}
