//! What a plugin can do beyond its trait, declared in its descriptor so that the core asks the
//! registry instead of naming a plugin: operator commands (`coffer hsm ...`), the program a
//! configured instance runs (for `coffer plugins list`), and the files a configured instance
//! keeps secrets or audit records in (owner-only, checked at start-up).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::{PluginContext, PluginError};

/// Everything optional a plugin declares. [`Capabilities::NONE`] declares nothing.
#[derive(Clone, Copy)]
pub struct Capabilities {
    /// A family of operator commands, `coffer GROUP COMMAND [--store NAME] [--OPTION VALUE]...`.
    pub commands: Option<&'static CommandGroup>,
    /// The program a configured instance runs (its settings section in, a command line out),
    /// when the plugin's code runs outside this binary.
    pub executable: Option<fn(&serde_json::Value) -> Option<String>>,
    /// The files a configured instance keeps secrets or audit records in, with what each is
    /// (its settings section and the data directory in).
    pub private_files: Option<PrivateFiles>,
}

/// What a plugin's `private_files` is: its settings section and the data directory in, the
/// files (with what each is) out.
pub type PrivateFiles = fn(&serde_json::Value, &Path) -> Vec<(&'static str, PathBuf)>;

impl Capabilities {
    pub const NONE: Capabilities = Capabilities {
        commands: None,
        executable: None,
        private_files: None,
    };
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("commands", &self.commands.map(|g| g.name))
            .field("executable", &self.executable.is_some())
            .field("private_files", &self.private_files.is_some())
            .finish()
    }
}

/// A family of operator commands under one name (`hsm`).
#[derive(Debug)]
pub struct CommandGroup {
    pub name: &'static str,
    /// One line for `coffer --help`.
    pub about: &'static str,
    pub commands: &'static [OperatorCommand],
}

/// One operator command. The core adds `--store NAME` (whose settings of the plugin to use;
/// default: the plugin's global section) and hands the chosen section to `run` as the
/// context's `config`.
pub struct OperatorCommand {
    pub name: &'static str,
    /// One line for `coffer GROUP --help`.
    pub about: &'static str,
    pub options: &'static [CommandOption],
    /// Run it; the line printed on success.
    pub run: fn(&PluginContext<'_>, &CommandArgs) -> Result<String, PluginError>,
}

impl fmt::Debug for OperatorCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorCommand")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

/// `--NAME VALUE` of an operator command.
#[derive(Debug)]
pub struct CommandOption {
    pub name: &'static str,
    pub help: &'static str,
    /// The value when the option is not given (`None`: absent).
    pub default: Option<&'static str>,
}

/// The options given to an operator command (defaults filled in).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommandArgs(BTreeMap<String, String>);

impl CommandArgs {
    pub fn new(values: BTreeMap<String, String>) -> CommandArgs {
        CommandArgs(values)
    }

    /// The option's value, if given (or defaulted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The option's value parsed as a number; `InvalidInput` naming the option otherwise.
    pub fn number(&self, name: &str) -> Result<Option<u64>, PluginError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    PluginError::InvalidInput(format!("--{name} must be a number, not {v:?}"))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_and_numbers_checked() {
        let args = CommandArgs::new(BTreeMap::from([
            ("label".to_owned(), "k1".to_owned()),
            ("length".to_owned(), "32".to_owned()),
            ("bad".to_owned(), "x".to_owned()),
        ]));
        assert_eq!(args.get("label"), Some("k1"));
        assert_eq!(args.get("nope"), None);
        assert_eq!(args.number("length").unwrap(), Some(32));
        assert_eq!(args.number("nope").unwrap(), None);
        let err = args.number("bad").unwrap_err().to_string();
        assert!(err.contains("--bad must be a number"), "{err}");
        let d = format!("{:?}", Capabilities::NONE);
        assert!(d.contains("commands: None"), "{d}");
    }
}
