//! The link-time plugin registry.
//!
//! Every plugin crate registers its [`PluginDescriptor`] with [`crate::register_plugin!`]; the
//! service finds them here, by namespace and name. In-tree and out-of-tree crates register the
//! same way: a binary that links a plugin crate (and names it, e.g. `use my_plugin as _;`) has
//! that plugin in its registry.

use std::collections::BTreeSet;

use thiserror::Error;

use crate::{Namespace, PluginDescriptor};

inventory::collect!(PluginDescriptor);

/// Every linked plugin, sorted by namespace then name.
pub fn all() -> Vec<&'static PluginDescriptor> {
    let mut list: Vec<_> = inventory::iter::<PluginDescriptor>.into_iter().collect();
    list.sort_by_key(|d| (d.namespace(), d.name));
    list
}

/// Why a lookup failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    #[error("unknown {namespace} plugin '{name}'; known {namespace} plugins: {}", known_list(.known))]
    Unknown {
        namespace: Namespace,
        name: String,
        known: Vec<String>,
    },
    #[error("{namespace} plugin '{name}' is registered more than once (crates: {})", .crates.join(", "))]
    Duplicate {
        namespace: Namespace,
        name: String,
        crates: Vec<String>,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "(none)".to_owned()
    } else {
        known.join(", ")
    }
}

/// The plugin registered under `name` in `namespace`.
pub fn find(namespace: Namespace, name: &str) -> Result<&'static PluginDescriptor, RegistryError> {
    find_in(&all(), namespace, name)
}

/// [`find`] over an explicit list (for tests and tools).
pub fn find_in(
    list: &[&'static PluginDescriptor],
    namespace: Namespace,
    name: &str,
) -> Result<&'static PluginDescriptor, RegistryError> {
    let matching: Vec<_> = list
        .iter()
        .filter(|d| d.namespace() == namespace && d.name == name)
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(RegistryError::Unknown {
            namespace,
            name: name.to_owned(),
            known: list
                .iter()
                .filter(|d| d.namespace() == namespace)
                .map(|d| d.name.to_owned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }),
        many => Err(RegistryError::Duplicate {
            namespace,
            name: name.to_owned(),
            crates: many.iter().map(|d| d.crate_name.to_owned()).collect(),
        }),
    }
}

/// Check the whole registry: no name registered twice in one namespace.
pub fn check() -> Result<(), RegistryError> {
    let list = all();
    for d in &list {
        find_in(&list, d.namespace(), d.name)?;
    }
    Ok(())
}
