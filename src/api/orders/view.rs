//! Order response bodies, with Barbican's field names and key order (which depends on what the
//! order has): an order, a page of orders, the ref a create answers, and order refs.

use serde::Serialize;
use utoipa::ToSchema;

use crate::api::containers::view::container_ref;
use crate::api::secrets::view::secret_ref;
use crate::service::orders::OrderRow;
use crate::timefmt::isoformat;

/// An order, with Barbican's key order (which depends on what the order has).
pub fn order_view(o: &OrderRow, href: &str) -> serde_json::Value {
    use serde_json::{Map, Value};
    let mut m = Map::new();
    m.insert("created".into(), Value::String(isoformat(&o.created_at)));
    m.insert("updated".into(), Value::String(isoformat(&o.updated_at)));
    m.insert("status".into(), Value::String(o.status.clone()));
    m.insert("type".into(), Value::String(o.order_type.clone()));
    m.insert(
        "meta".into(),
        serde_json::from_str(&o.meta).unwrap_or(Value::Object(Map::new())),
    );
    if let Some(code) = o.error_status_code {
        // A string, as Barbican shows it (its column is a VARCHAR).
        m.insert("error_status_code".into(), Value::String(code.to_string()));
    }
    if let Some(reason) = &o.error_reason {
        m.insert("error_reason".into(), Value::String(reason.clone()));
    }
    if let Some(s) = &o.sub_status {
        m.insert("sub_status".into(), Value::String(s.clone()));
    }
    if let Some(s) = &o.sub_status_message {
        m.insert("sub_status_message".into(), Value::String(s.clone()));
    }
    if let Some(c) = &o.creator_id {
        m.insert("creator_id".into(), Value::String(c.clone()));
    }
    if let Some(s) = &o.secret_id {
        m.insert("secret_ref".into(), Value::String(secret_ref(href, s)));
    }
    m.insert("order_ref".into(), Value::String(order_ref(href, &o.id)));
    if let Some(c) = &o.container_id {
        m.insert(
            "container_ref".into(),
            Value::String(container_ref(href, c)),
        );
    }
    Value::Object(m)
}

/// The ref of an order.
pub fn order_ref(href: &str, id: &str) -> String {
    format!("{href}/v1/orders/{id}")
}

/// `{"order_ref": ...}`
#[derive(Serialize, ToSchema)]
pub struct OrderRefBody {
    pub order_ref: String,
}

/// An order (documentation form; the body is built by `order_view`).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct OrderDoc {
    pub created: String,
    pub updated: String,
    /// `PENDING`, `ACTIVE` or `ERROR`.
    pub status: String,
    /// `key` or `asymmetric`.
    #[serde(rename = "type")]
    pub order_type: String,
    pub meta: serde_json::Value,
    /// ERROR orders: the failure's HTTP status, as a string (`"400"`), as Barbican shows it.
    pub error_status_code: Option<String>,
    pub error_reason: Option<String>,
    pub sub_status: String,
    pub sub_status_message: String,
    pub creator_id: Option<String>,
    /// Key orders, once ACTIVE.
    pub secret_ref: Option<String>,
    pub order_ref: String,
    /// Asymmetric orders, once ACTIVE.
    pub container_ref: Option<String>,
}

/// A page of orders.
#[derive(Serialize)]
pub struct OrderList {
    pub orders: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total: i64,
}
