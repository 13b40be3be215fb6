//! Authorization: one rule table (Barbican's default legacy policy, `defaults.rs`) evaluated
//! with oslo.policy semantics (`check.rs`), optionally overridden by a policy file
//! (`[policy] file`, YAML or JSON, `rule name: check string`, like Barbican's policy.yaml).
//!
//! Handlers name the action (`secret:get`, `containers:post`, ...) and build the target from
//! the entity: its project, creator, and the caller's view of its `read` ACL.

pub mod check;
mod defaults;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Context};
use plugin_api::AuthContext;

pub use check::Target;
use check::{py_bool, py_str, Check};

/// The rule set in force.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<String, Check>,
}

/// The `read` ACL of a secret or container, as policy sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadAcl {
    /// `project-access` (true when the entity has no ACL).
    pub project_access: bool,
    pub users: Vec<String>,
}

impl ReadAcl {
    /// The implicit ACL of an entity without one.
    pub fn open() -> Self {
        ReadAcl {
            project_access: true,
            users: Vec::new(),
        }
    }
}

/// Which entity a target describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Secret,
    Container,
}

impl Entity {
    fn key(self) -> &'static str {
        match self {
            Entity::Secret => "secret",
            Entity::Container => "container",
        }
    }
}

/// A target for a secret or container: its project, creator, and the caller's view of its
/// read ACL (`read_project_access`, and `read` when the caller is on the user list).
pub fn entity_target(
    entity: Entity,
    project_id: &str,
    creator_id: Option<&str>,
    acl: &ReadAcl,
    caller: &AuthContext,
) -> Target {
    let k = entity.key();
    let mut t = Target::new();
    t.set(&format!("target.{k}.project_id"), project_id)
        .set(&format!("target.{k}.creator_id"), py_str(creator_id))
        .set(
            &format!("target.{k}.read_project_access"),
            py_bool(acl.project_access),
        );
    if caller
        .user_id
        .as_ref()
        .is_some_and(|u| acl.users.iter().any(|x| x == u))
    {
        t.set(&format!("target.{k}.read"), "read");
    }
    t
}

/// A target for an order.
pub fn order_target(project_id: &str, creator_id: Option<&str>) -> Target {
    let mut t = Target::new();
    t.set("target.order.project_id", project_id)
        .set("target.order.creator_id", py_str(creator_id));
    t
}

fn parse_table<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<HashMap<String, Check>> {
    entries
        .into_iter()
        .map(|(name, text)| {
            check::parse(text)
                .map(|c| (name.to_owned(), c))
                .map_err(|e| anyhow!("policy rule '{name}': {e} (in {text:?})"))
        })
        .collect()
}

/// Which of Barbican's built-in rule sets applies before any policy file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Defaults {
    /// The legacy role matrix: admin, creator, observer, audit, key-manager:service-admin
    /// (oslo.policy's `enforce_new_defaults = False`, what Barbican's own gate runs).
    #[default]
    Legacy,
    /// Secure RBAC: reader, member, admin on the token's project (`enforce_new_defaults =
    /// True`).
    SecureRbac,
}

impl Policy {
    /// Barbican's legacy defaults.
    pub fn legacy() -> Self {
        Self::defaults(Defaults::Legacy)
    }

    /// One of Barbican's built-in rule sets.
    pub fn defaults(set: Defaults) -> Self {
        let mut rules = parse_table(defaults::LEGACY_RULES.iter().copied())
            .unwrap_or_else(|e| panic!("built-in policy does not parse: {e}"));
        if set == Defaults::SecureRbac {
            rules.extend(
                parse_table(defaults::SECURE_RBAC_RULES.iter().copied())
                    .unwrap_or_else(|e| panic!("built-in policy does not parse: {e}")),
            );
        }
        Policy { rules }
    }

    /// The built-in `set`, overridden by a policy file if given.
    pub fn load(set: Defaults, file: Option<&Path>) -> anyhow::Result<Self> {
        let mut policy = Policy::defaults(set);
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading policy file {}", path.display()))?;
            let map: HashMap<String, String> =
                serde_yaml_ng::from_str(&text).with_context(|| {
                    format!(
                        "policy file {} must map rule names to check strings",
                        path.display()
                    )
                })?;
            let overrides = parse_table(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .with_context(|| format!("in policy file {}", path.display()))?;
            tracing::info!(file = %path.display(), rules = overrides.len(), "policy overrides loaded");
            policy.rules.extend(overrides);
        }
        Ok(policy)
    }

    /// Whether `caller` may perform `action` on `target`. Unknown actions are denied.
    pub fn allows(&self, action: &str, caller: &AuthContext, target: &Target) -> bool {
        match self.rules.get(action) {
            Some(rule) => check::eval(rule, &self.rules, caller, target, 0),
            None => {
                tracing::error!(action, "no policy rule for this action; denying");
                false
            }
        }
    }

    /// The rule names (for tests and tools).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests;
