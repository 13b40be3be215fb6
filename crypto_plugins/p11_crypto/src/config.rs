//! Configuration of p11_crypto: which module and token, the PIN, the key labels, mechanisms,
//! and the sizes of the session pool and the project-KEK cache.

use std::path::PathBuf;

use cryptoki::mechanism::Mechanism;
use cryptoki::types::AuthPin;
use plugin_api::PluginError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

/// `[crypto.p11_crypto]` (or a store's `crypto` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P11Config {
    /// The PKCS#11 module (for SoftHSM2 on Debian: `/usr/lib/softhsm/libsofthsm2.so`).
    pub library: PathBuf,
    /// The token, by label (preferred: slot ids can change when tokens are added).
    #[serde(default)]
    pub token_label: Option<String>,
    /// The token, by slot id.
    #[serde(default)]
    pub slot_id: Option<u64>,
    /// The user PIN: inline (avoid outside tests), from an environment variable, or from a
    /// file (first line). Exactly one. Zeroized when dropped, never in `Debug`.
    #[serde(default)]
    pub pin: Option<SecretString>,
    #[serde(default)]
    pub pin_env: Option<String>,
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Label of the master KEK (AES-256, in the token) that wraps new project KEKs.
    #[serde(default = "default_mkek_label")]
    pub mkek_label: String,
    /// Label of the HMAC key (in the token) that signs new wrapped project KEKs.
    #[serde(default = "default_hmac_label")]
    pub hmac_label: String,
    /// How project KEKs are wrapped: `aes_key_wrap` (RFC 3394) or `aes_key_wrap_pad`
    /// (RFC 5649).
    #[serde(default)]
    pub key_wrap_mechanism: WrapMechanism,
    /// Sessions kept open with the token; concurrent requests beyond it wait.
    #[serde(default = "default_pool_size")]
    pub session_pool_size: usize,
    /// How long a request waits for a free session before failing with 503.
    #[serde(default = "default_session_wait_ms")]
    pub session_wait_ms: u64,
    /// Unwrapped project KEKs kept in the token as session objects.
    #[serde(default = "default_cache_size")]
    pub kek_cache_size: usize,
}

fn default_mkek_label() -> String {
    "coffer-mkek".to_owned()
}

fn default_hmac_label() -> String {
    "coffer-hmac".to_owned()
}

fn default_pool_size() -> usize {
    8
}

fn default_session_wait_ms() -> u64 {
    5000
}

fn default_cache_size() -> usize {
    1000
}

/// The mechanism that wraps project KEKs under the master KEK.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WrapMechanism {
    /// CKM_AES_KEY_WRAP, RFC 3394 (the project KEK is 32 bytes, no padding needed).
    #[default]
    AesKeyWrap,
    /// CKM_AES_KEY_WRAP_PAD, RFC 5649.
    AesKeyWrapPad,
}

impl WrapMechanism {
    /// The name recorded with each wrapped KEK (so the configured choice may change).
    pub fn name(self) -> &'static str {
        match self {
            WrapMechanism::AesKeyWrap => "CKM_AES_KEY_WRAP",
            WrapMechanism::AesKeyWrapPad => "CKM_AES_KEY_WRAP_PAD",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [WrapMechanism::AesKeyWrap, WrapMechanism::AesKeyWrapPad]
            .into_iter()
            .find(|m| m.name() == name)
    }

    pub fn mechanism(self) -> Mechanism<'static> {
        match self {
            WrapMechanism::AesKeyWrap => Mechanism::AesKeyWrap,
            WrapMechanism::AesKeyWrapPad => Mechanism::AesKeyWrapPad,
        }
    }
}

/// Which token to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    Label(String),
    SlotId(u64),
}

impl P11Config {
    /// Check the settings that need no token.
    pub fn validate(&self) -> Result<(), PluginError> {
        if self.session_pool_size == 0 {
            return Err(PluginError::Config(
                "session_pool_size must be at least 1".into(),
            ));
        }
        if self.kek_cache_size == 0 {
            return Err(PluginError::Config(
                "kek_cache_size must be at least 1".into(),
            ));
        }
        if self.mkek_label.is_empty() || self.hmac_label.is_empty() {
            return Err(PluginError::Config(
                "mkek_label and hmac_label must not be empty".into(),
            ));
        }
        self.token()?;
        Ok(())
    }

    pub fn token(&self) -> Result<TokenSelector, PluginError> {
        match (&self.token_label, self.slot_id) {
            (Some(label), None) => Ok(TokenSelector::Label(label.clone())),
            (None, Some(id)) => Ok(TokenSelector::SlotId(id)),
            (None, None) => Err(PluginError::Config(
                "set token_label (or slot_id) to choose the token".into(),
            )),
            (Some(_), Some(_)) => Err(PluginError::Config(
                "set token_label or slot_id, not both".into(),
            )),
        }
    }

    /// The user PIN from its one configured source. Never logged.
    pub fn load_pin(&self) -> Result<AuthPin, PluginError> {
        let text: Zeroizing<String> = match (&self.pin, &self.pin_env, &self.pin_file) {
            (Some(pin), None, None) => Zeroizing::new(pin.expose_secret().to_owned()),
            (None, Some(var), None) => Zeroizing::new(std::env::var(var).map_err(|_| {
                PluginError::Config(format!(
                    "pin_env names {var}, which is not set (or not UTF-8)"
                ))
            })?),
            (None, None, Some(path)) => {
                let raw = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    PluginError::Config(format!("cannot read pin_file {}: {e}", path.display()))
                })?);
                Zeroizing::new(raw.lines().next().unwrap_or_default().to_owned())
            }
            (None, None, None) => {
                return Err(PluginError::Config(
                    "no PIN configured: set pin_env or pin_file (or pin)".into(),
                ))
            }
            _ => {
                return Err(PluginError::Config(
                    "set exactly one of pin, pin_env, pin_file".into(),
                ))
            }
        };
        if text.is_empty() {
            return Err(PluginError::Config("the configured PIN is empty".into()));
        }
        Ok(AuthPin::from(text.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<P11Config, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn defaults_and_validation() {
        let c = parse(serde_json::json!({"library": "/x.so", "token_label": "t", "pin": "1234"}))
            .unwrap();
        assert_eq!(c.mkek_label, "coffer-mkek");
        assert_eq!(c.key_wrap_mechanism, WrapMechanism::AesKeyWrap);
        assert_eq!(c.session_pool_size, 8);
        c.validate().unwrap();
        assert_eq!(c.token().unwrap(), TokenSelector::Label("t".into()));

        let both = parse(serde_json::json!({"library": "/x.so", "token_label": "t", "slot_id": 1}))
            .unwrap();
        assert!(both.validate().is_err());
        let neither = parse(serde_json::json!({"library": "/x.so"})).unwrap();
        assert!(neither
            .validate()
            .unwrap_err()
            .to_string()
            .contains("token_label"));
        let zero =
            parse(serde_json::json!({"library": "/x.so", "slot_id": 0, "session_pool_size": 0}))
                .unwrap();
        assert!(zero.validate().is_err());
        assert!(parse(serde_json::json!({"library": "/x.so", "bogus": 1})).is_err());
        let pad = parse(
            serde_json::json!({"library": "/x.so", "slot_id": 0, "key_wrap_mechanism": "aes_key_wrap_pad"}),
        )
        .unwrap();
        assert_eq!(pad.key_wrap_mechanism, WrapMechanism::AesKeyWrapPad);
        assert_eq!(pad.token().unwrap(), TokenSelector::SlotId(0));
        for (field, value, says) in [
            ("kek_cache_size", serde_json::json!(0), "kek_cache_size"),
            ("mkek_label", serde_json::json!(""), "must not be empty"),
            ("hmac_label", serde_json::json!(""), "must not be empty"),
        ] {
            let mut v = serde_json::json!({"library": "/x.so", "slot_id": 0});
            v[field] = value;
            let err = parse(v).unwrap().validate().unwrap_err();
            assert!(err.to_string().contains(says), "{field}: {err}");
        }
        assert_eq!(
            WrapMechanism::from_name(pad.key_wrap_mechanism.name()),
            Some(WrapMechanism::AesKeyWrapPad)
        );
    }

    #[test]
    fn pin_sources() {
        let base = serde_json::json!({"library": "/x.so", "slot_id": 0});
        let with = |k: &str, v: serde_json::Value| {
            let mut o = base.clone();
            o[k] = v;
            parse(o).unwrap()
        };
        assert!(with("pin", "1234".into()).load_pin().is_ok());
        let none = parse(base.clone()).unwrap();
        assert!(none.load_pin().unwrap_err().to_string().contains("no PIN"));
        let missing_env = with("pin_env", "COFFER_TEST_NO_SUCH_PIN_VAR".into());
        assert!(missing_env.load_pin().is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "5678\nignored\n").unwrap();
        assert!(with("pin_file", file.to_string_lossy().into())
            .load_pin()
            .is_ok());
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert!(with("pin_file", empty.to_string_lossy().into())
            .load_pin()
            .is_err());
        let absent = with(
            "pin_file",
            dir.path().join("absent").to_string_lossy().into(),
        )
        .load_pin()
        .expect_err("a missing pin_file is refused");
        assert!(matches!(&absent, PluginError::Config(_)));
        assert!(
            absent.to_string().contains("cannot read pin_file"),
            "{absent}"
        );
        let mut two = base.clone();
        two["pin"] = "1".into();
        two["pin_env"] = "X".into();
        assert!(parse(two).unwrap().load_pin().is_err());
    }

    #[test]
    fn debug_shows_no_pin() {
        let c = parse(serde_json::json!({"library": "/x.so", "slot_id": 0, "pin": "hsm-pin-8642"}))
            .unwrap();
        for shown in [format!("{c:?}"), format!("{:?}", c.clone())] {
            assert!(!shown.contains("hsm-pin-8642"), "{shown}");
            assert!(shown.contains("pin"), "{shown}");
        }
        assert!(c.load_pin().is_ok());
    }
}
