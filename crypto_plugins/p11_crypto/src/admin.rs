//! Operator commands on the token (`coffer hsm ...`): create the master KEK and the HMAC key,
//! and check that they exist and work.

use std::time::Duration;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use plugin_api::{
    CommandArgs, CommandGroup, CommandOption, OperatorCommand, PluginContext, PluginError,
};

use crate::token::{describe, Token};
use crate::P11Config;

/// `coffer hsm ...`: the operator commands this plugin declares in its descriptor.
pub static COMMANDS: CommandGroup = CommandGroup {
    name: "hsm",
    about: "The HSM's master keys (p11_crypto)",
    commands: &[
        OperatorCommand {
            name: "gen-mkek",
            about: "Create the master KEK (AES, wrap/unwrap only, never extractable) in the token",
            options: KEY_OPTIONS,
            run: |ctx, args| generate_command(ctx, args, MasterKey::Mkek),
        },
        OperatorCommand {
            name: "gen-hmac",
            about: "Create the HMAC key (generic secret, sign/verify only) in the token",
            options: KEY_OPTIONS,
            run: |ctx, args| generate_command(ctx, args, MasterKey::Hmac),
        },
        OperatorCommand {
            name: "check-mkek",
            about: "Check that the master KEK exists once and can wrap and unwrap",
            options: LABEL_OPTION,
            run: |ctx, args| check_command(ctx, args, MasterKey::Mkek),
        },
        OperatorCommand {
            name: "check-hmac",
            about: "Check that the HMAC key exists once and can sign and verify",
            options: LABEL_OPTION,
            run: |ctx, args| check_command(ctx, args, MasterKey::Hmac),
        },
    ],
};

const LABEL: CommandOption = CommandOption {
    name: "label",
    help: "The key's label (default: mkek_label / hmac_label from the settings)",
    default: None,
};
const LABEL_OPTION: &[CommandOption] = &[LABEL];
const KEY_OPTIONS: &[CommandOption] = &[
    LABEL,
    CommandOption {
        name: "length",
        help: "Key length in bytes",
        default: Some("32"),
    },
];

/// `coffer hsm gen-mkek` / `gen-hmac`: create a master key; without `--label`, the configured
/// one.
fn generate_command(
    ctx: &PluginContext<'_>,
    args: &CommandArgs,
    key: MasterKey,
) -> Result<String, PluginError> {
    let cfg: P11Config = ctx.parse_config()?;
    let label = args.get("label").unwrap_or(key.configured_label(&cfg));
    let length = args.number("length")?.unwrap_or(32);
    generate(&cfg, key, label, length)?;
    Ok(format!(
        "created {} '{label}' ({length} bytes) in the token",
        key.name()
    ))
}

/// `coffer hsm check-mkek` / `check-hmac`.
fn check_command(
    ctx: &PluginContext<'_>,
    args: &CommandArgs,
    key: MasterKey,
) -> Result<String, PluginError> {
    let cfg: P11Config = ctx.parse_config()?;
    let label = args.get("label").unwrap_or(key.configured_label(&cfg));
    check(&cfg, key, label)
}

/// The two kinds of master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKey {
    /// The master KEK: AES, wraps project KEKs.
    Mkek,
    /// The HMAC key: a generic secret, signs wrapped project KEKs.
    Hmac,
}

impl MasterKey {
    fn name(self) -> &'static str {
        match self {
            MasterKey::Mkek => "master KEK",
            MasterKey::Hmac => "HMAC key",
        }
    }

    fn key_type(self) -> KeyType {
        match self {
            MasterKey::Mkek => KeyType::AES,
            MasterKey::Hmac => KeyType::GENERIC_SECRET,
        }
    }

    /// The configured label of this key.
    pub fn configured_label(self, cfg: &P11Config) -> &str {
        match self {
            MasterKey::Mkek => &cfg.mkek_label,
            MasterKey::Hmac => &cfg.hmac_label,
        }
    }
}

fn open(cfg: &P11Config) -> Result<Token, PluginError> {
    cfg.validate()?;
    Token::open(
        &cfg.library,
        cfg.token()?,
        cfg.load_pin()?,
        1,
        Duration::from_millis(cfg.session_wait_ms),
    )
}

fn failed(what: &str) -> impl Fn(cryptoki::error::Error) -> PluginError + '_ {
    move |e| PluginError::Internal(format!("{what}: {}", describe(&e)))
}

fn find(
    s: &Session,
    label: &str,
    key_type: Option<KeyType>,
) -> Result<Vec<ObjectHandle>, PluginError> {
    let mut template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    if let Some(kt) = key_type {
        template.push(Attribute::KeyType(kt));
    }
    s.find_objects(&template)
        .map_err(failed("searching the token"))
}

/// Create a master key labelled `label` of `length` bytes in the token. Refuses when any
/// secret key already carries the label.
pub fn generate(
    cfg: &P11Config,
    key: MasterKey,
    label: &str,
    length: u64,
) -> Result<(), PluginError> {
    if label.is_empty() {
        return Err(PluginError::InvalidInput(
            "the label must not be empty".into(),
        ));
    }
    if key == MasterKey::Mkek && ![16, 24, 32].contains(&length) {
        return Err(PluginError::InvalidInput(
            "an AES master KEK is 16, 24 or 32 bytes long".into(),
        ));
    }
    if key == MasterKey::Hmac && !(32..=64).contains(&length) {
        return Err(PluginError::InvalidInput(
            "an HMAC-SHA256 key is 32 to 64 bytes long".into(),
        ));
    }
    let token = open(cfg)?;
    let s = token.session()?;
    if !find(&s, label, None)?.is_empty() {
        return Err(PluginError::InvalidInput(format!(
            "the token already holds a key labelled '{label}'; choose another label"
        )));
    }
    let mut template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key.key_type()),
        Attribute::ValueLen(Ulong::from(length)),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    let mechanism = match key {
        MasterKey::Mkek => {
            template.extend([
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
            ]);
            Mechanism::AesKeyGen
        }
        MasterKey::Hmac => {
            template.extend([Attribute::Sign(true), Attribute::Verify(true)]);
            Mechanism::GenericSecretKeyGen
        }
    };
    s.generate_key(&mechanism, &template)
        .map_err(failed("generating the key"))?;
    Ok(())
}

/// Check that exactly one master key labelled `label` exists and works (a trial wrap and
/// unwrap for the master KEK, a trial sign and verify for the HMAC key). Returns a one-line
/// description.
pub fn check(cfg: &P11Config, key: MasterKey, label: &str) -> Result<String, PluginError> {
    let token = open(cfg)?;
    let s = token.session()?;
    let found = find(&s, label, Some(key.key_type()))?;
    let handle = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(PluginError::KeyUnavailable(format!(
                "no {} labelled '{label}' in the token",
                key.name()
            )))
        }
        many => {
            return Err(PluginError::KeyUnavailable(format!(
                "{} keys are labelled '{label}'; labels must be unique",
                many.len()
            )))
        }
    };
    let len = match s
        .get_attributes(handle, &[AttributeType::ValueLen])
        .map_err(failed("reading the key's attributes"))?
        .pop()
    {
        Some(Attribute::ValueLen(l)) => u64::from(l),
        _ => 0,
    };
    match key {
        MasterKey::Mkek => {
            let probe = s
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(Ulong::from(32u64)),
                        Attribute::Token(false),
                        Attribute::Extractable(true),
                    ],
                )
                .map_err(failed("making a trial key"))?;
            let trial = s
                .wrap_key(&Mechanism::AesKeyWrap, handle, probe)
                .map_err(failed("the master KEK cannot wrap"))
                .and_then(|wrapped| {
                    s.unwrap_key(
                        &Mechanism::AesKeyWrap,
                        handle,
                        &wrapped,
                        &[
                            Attribute::Class(ObjectClass::SECRET_KEY),
                            Attribute::KeyType(KeyType::AES),
                            Attribute::Token(false),
                        ],
                    )
                    .map_err(failed("the master KEK cannot unwrap"))
                });
            let _ = s.destroy_object(probe);
            let unwrapped = trial?;
            let _ = s.destroy_object(unwrapped);
            Ok(format!(
                "master KEK '{label}' is present and usable (AES-{}, wrap and unwrap)",
                len * 8
            ))
        }
        MasterKey::Hmac => {
            let data = b"coffer hsm check-hmac";
            let mac = s
                .sign(&Mechanism::Sha256Hmac, handle, data)
                .map_err(failed("the HMAC key cannot sign"))?;
            s.verify(&Mechanism::Sha256Hmac, handle, data, &mac)
                .map_err(failed("the HMAC key cannot verify"))?;
            Ok(format!(
                "HMAC key '{label}' is present and usable ({len} bytes, HMAC-SHA256)"
            ))
        }
    }
}
