//! `external`: a secret store whose work is done by a separate process — a plugin written in
//! any language — speaking the protocol in `plugin_api/PROTOCOL.md` over its stdin and stdout
//! (length-prefixed JSON frames). Its status is always `out-of-tree`: it loads only with
//! `plugins.allow_out_of_tree = true`.
//!
//! ```toml
//! [stores.files]
//! store_plugin = "external"
//! store = { command = "/usr/bin/python3", args = ["/opt/file_store.py"], settings = { directory = "/var/lib/coffer/files" } }
//! ```
//!
//! The child is started when the plugin loads (a failed handshake is a start-up error naming the
//! command); it is restarted on the next call after it dies (capped exponential backoff when it
//! keeps failing); calls in flight when it dies fail with `Unavailable` (503); every call is
//! bounded by `call_timeout_ms`, and a child that sends nothing during a whole call timeout is
//! killed as hung and replaced. Dropping the store stops the child. Payloads travel only
//! through the pipes, base64 in zeroizing buffers on Coffer's side — never in argv, the
//! environment or a log line.

mod child;
mod settings;
mod supervisor;
mod wire;

use std::sync::Arc;

use plugin_api::{
    Capabilities, Factory, GeneratedKeyPairMetadata, KeyPairTargets, KeySpec, Metrics,
    PluginContext, PluginDescriptor, PluginError, PluginStatus, SecretDto, SecretStore, SecretType,
    StoreContext, StoreFactoryInput, StoreMetadata,
};
use serde::Serialize;

pub use settings::ExternalSettings;

use child::{Launch, SupportsKey};
use supervisor::Supervisor;
use wire::{
    EmptyResult, GetResult, KeyPairResult, MetadataResult, Owner, WireKeySpec, WireMetadata,
};

/// The registry name of this store plugin.
pub const NAME: &str = "external";

/// The protocol versions this build speaks (see `plugin_api/PROTOCOL.md`).
pub const PROTOCOL_VERSIONS: [u32; 1] = wire::PROTOCOL_VERSIONS;

plugin_api::register_plugin!(PluginDescriptor {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::OutOfTree,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "runs a store plugin as a child process (any language; plugin_api/PROTOCOL.md)",
    factory: Factory::Store(build),
    capabilities: Capabilities {
        executable: Some(command_of),
        ..Capabilities::NONE
    },
});

fn build(
    ctx: &PluginContext<'_>,
    crypto: StoreFactoryInput,
) -> Result<Arc<dyn SecretStore>, PluginError> {
    if crypto.is_some() {
        return Err(PluginError::Config(format!(
            "store '{}' uses the external plugin, which takes no crypto_plugin",
            ctx.instance
        )));
    }
    let settings = ExternalSettings::from_context(ctx)?;
    Ok(Arc::new(ExternalStore::start_reporting(
        ctx.instance,
        settings,
        ctx.data_dir,
        ctx.metrics,
    )?))
}

/// The command line a store section names (for `coffer plugins list`), if it is readable.
pub fn command_of(section: &serde_json::Value) -> Option<String> {
    let mut line = section.get("command")?.as_str()?.to_owned();
    for arg in section
        .get("args")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
    {
        line.push(' ');
        line.push_str(arg);
    }
    Some(line)
}

/// The store: a supervised child process.
pub struct ExternalStore {
    supervisor: Supervisor,
}

impl ExternalStore {
    /// Start the plugin process and run the handshake.
    ///
    /// Errors: `Config` for invalid settings, and naming the command, with the child's last
    /// stderr lines, when it cannot be started or fails the handshake.
    pub fn start(
        instance: &str,
        settings: ExternalSettings,
        data_dir: &std::path::Path,
    ) -> Result<Self, PluginError> {
        Self::start_reporting(instance, settings, data_dir, &Metrics::discard())
    }

    /// [`ExternalStore::start`], counting restarts of the process through `metrics`.
    pub fn start_reporting(
        instance: &str,
        settings: ExternalSettings,
        data_dir: &std::path::Path,
        metrics: &Metrics,
    ) -> Result<Self, PluginError> {
        settings.check(instance)?;
        let launch = Launch {
            instance: instance.to_owned(),
            settings,
            data_dir: data_dir.to_owned(),
            metrics: metrics.clone(),
        };
        let supervisor = Supervisor::start(launch).map_err(PluginError::Config)?;
        Ok(ExternalStore { supervisor })
    }

    /// The pid of the running plugin process (none while it is down). For diagnostics and
    /// tests.
    pub fn child_pid(&self) -> Option<u32> {
        self.supervisor.pid()
    }

    /// `name version` of the plugin, as its handshake reported them.
    pub fn plugin(&self) -> Option<String> {
        self.supervisor.plugin()
    }

    fn supports_key(kind: &'static str, spec: &KeySpec) -> SupportsKey {
        (
            kind,
            spec.algorithm_lower(),
            spec.bit_length,
            spec.mode.as_deref().map(str::to_ascii_lowercase),
        )
    }

    fn ask(&self, method: &'static str, spec: &KeySpec) -> bool {
        #[derive(Serialize)]
        struct Params<'a> {
            key_spec: WireKeySpec<'a>,
        }
        self.supervisor.supports(
            method,
            Self::supports_key(method, spec),
            &Params {
                key_spec: WireKeySpec::of(spec),
            },
        )
    }
}

fn owner(c: StoreContext<'_>) -> Owner<'_> {
    Owner {
        project_id: c.project_id,
        secret_id: c.secret_id,
    }
}

fn parse<T: serde::de::DeserializeOwned>(frame: &[u8], context: &str) -> Result<T, PluginError> {
    wire::parse_response(frame, context)
}

impl SecretStore for ExternalStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn store_secret(
        &self,
        ctx: StoreContext<'_>,
        secret: &SecretDto,
    ) -> Result<StoreMetadata, PluginError> {
        #[derive(Serialize)]
        struct Params<'a> {
            project_id: &'a str,
            secret_id: &'a str,
            secret_type: &'a str,
            content_type: &'a str,
            key_spec: WireKeySpec<'a>,
            payload: &'a str,
        }
        let payload = wire::b64(&secret.payload);
        let params = Params {
            project_id: ctx.project_id,
            secret_id: ctx.secret_id,
            secret_type: secret.secret_type.as_str(),
            content_type: &secret.content_type,
            key_spec: WireKeySpec::of(&secret.key_spec),
            payload: &payload,
        };
        self.supervisor
            .call("store_secret", &params, parse::<MetadataResult>)
            .map(|r| r.metadata)
    }

    fn get_secret(
        &self,
        ctx: StoreContext<'_>,
        secret_type: SecretType,
        metadata: &StoreMetadata,
    ) -> Result<SecretDto, PluginError> {
        #[derive(Serialize)]
        struct Params<'a> {
            project_id: &'a str,
            secret_id: &'a str,
            secret_type: &'a str,
            metadata: WireMetadata<'a>,
        }
        let params = Params {
            project_id: ctx.project_id,
            secret_id: ctx.secret_id,
            secret_type: secret_type.as_str(),
            metadata,
        };
        self.supervisor
            .call("get_secret", &params, |frame, context| {
                let r: GetResult = parse(frame, context)?;
                Ok(SecretDto {
                    secret_type,
                    payload: wire::unb64(&r.payload.0, context)?,
                    content_type: r.content_type.unwrap_or_default(),
                    key_spec: KeySpec::default(),
                })
            })
    }

    fn delete_secret(
        &self,
        ctx: StoreContext<'_>,
        metadata: &StoreMetadata,
    ) -> Result<(), PluginError> {
        #[derive(Serialize)]
        struct Params<'a> {
            project_id: &'a str,
            secret_id: &'a str,
            metadata: WireMetadata<'a>,
        }
        let params = Params {
            project_id: ctx.project_id,
            secret_id: ctx.secret_id,
            metadata,
        };
        self.supervisor
            .call("delete_secret", &params, parse::<EmptyResult>)
            .map(|_| ())
    }

    fn generate_symmetric_key(
        &self,
        ctx: StoreContext<'_>,
        spec: &KeySpec,
    ) -> Result<StoreMetadata, PluginError> {
        #[derive(Serialize)]
        struct Params<'a> {
            project_id: &'a str,
            secret_id: &'a str,
            key_spec: WireKeySpec<'a>,
        }
        let params = Params {
            project_id: ctx.project_id,
            secret_id: ctx.secret_id,
            key_spec: WireKeySpec::of(spec),
        };
        self.supervisor
            .call("generate_symmetric_key", &params, parse::<MetadataResult>)
            .map(|r| r.metadata)
    }

    fn generate_asymmetric_key(
        &self,
        targets: KeyPairTargets<'_>,
        spec: &KeySpec,
    ) -> Result<GeneratedKeyPairMetadata, PluginError> {
        #[derive(Serialize)]
        struct Params<'a> {
            key_spec: WireKeySpec<'a>,
            private_key: Owner<'a>,
            public_key: Owner<'a>,
            passphrase: Option<Owner<'a>>,
        }
        let passphrase = spec.passphrase.as_ref().map(|p| wire::b64(p.as_bytes()));
        let params = Params {
            key_spec: WireKeySpec {
                passphrase: passphrase.as_ref().map(|p| p.as_str()),
                ..WireKeySpec::of(spec)
            },
            private_key: owner(targets.private_key),
            public_key: owner(targets.public_key),
            passphrase: targets.passphrase.map(owner),
        };
        let want_passphrase = targets.passphrase.is_some();
        self.supervisor
            .call("generate_asymmetric_key", &params, |frame, context| {
                let r: KeyPairResult = parse(frame, context)?;
                if want_passphrase && r.passphrase.is_none() {
                    return Err(PluginError::Internal(format!(
                        "{context}: the plugin did not store the passphrase it was asked to"
                    )));
                }
                Ok(GeneratedKeyPairMetadata {
                    private_key: r.private_key,
                    public_key: r.public_key,
                    passphrase: if want_passphrase { r.passphrase } else { None },
                })
            })
    }

    fn store_secret_supports(&self, spec: &KeySpec) -> bool {
        self.ask("store_secret_supports", spec)
    }

    fn generate_supports(&self, spec: &KeySpec) -> bool {
        self.ask("generate_supports", spec)
    }
}
