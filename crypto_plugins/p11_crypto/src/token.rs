//! The token: the process-wide PKCS#11 module context, the slot, and a pool of logged-in
//! sessions.
//!
//! A PKCS#11 module is initialised once per process (`C_Initialize`), so contexts are shared
//! per library path. Each plugin instance keeps its own pool of read-write sessions; a
//! request holds one session exclusively for its calls. Sessions belong to an *epoch*: when a
//! call fails in a way that means sessions, logins or object handles are gone (the token was
//! reset, the device restarted, someone logged out), the epoch advances: new requests get new
//! sessions, everything cached for the old epoch (key handles) is ignored, and the old
//! sessions are closed once no request of the old epoch is left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use plugin_api::PluginError;

use crate::config::TokenSelector;

/// One context per module path, initialised once and kept for the life of the process.
fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `C_Initialize`, where "already initialised" is success.
fn initialize(ctx: &Pkcs11) -> Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        other => other,
    }
}

/// The context of the module at `library`, loading and initialising it on first use.
pub fn module(library: &Path) -> Result<Pkcs11, PluginError> {
    let mut all = lock(modules());
    if let Some(ctx) = all.get(library) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(library).map_err(|e| {
        PluginError::Config(format!(
            "cannot load the PKCS#11 module {}: {e}",
            library.display()
        ))
    })?;
    initialize(&ctx).map_err(|e| {
        PluginError::Unavailable(format!(
            "cannot initialise the PKCS#11 module {}: {}",
            library.display(),
            describe(&e)
        ))
    })?;
    all.insert(library.to_owned(), ctx.clone());
    Ok(ctx)
}

/// Finalise the module at `library` (`C_Finalize`), as a device restart does: every session,
/// login and object handle of the process is gone, and the next call finds the module
/// uninitialised (plugins then initialise it again). With `reinitialize`, `C_Initialize` runs
/// at once. For tests and drills; call it while no request is inside the module.
pub fn finalize_module(library: &Path, reinitialize: bool) -> Result<(), PluginError> {
    let ctx = module(library)?;
    let failed = |e: CkError| PluginError::Unavailable(describe(&e));
    ctx.clone().finalize().map_err(failed)?;
    if reinitialize {
        initialize(&ctx).map_err(failed)?;
    }
    Ok(())
}

/// A short description of a PKCS#11 failure (the return value's name and the function).
pub fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{rv:?} from {function:?}"),
        other => other.to_string(),
    }
}

/// What a failed call means for the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing to recover: the request itself failed.
    None,
    /// Sessions, the login or object handles are gone: new epoch, then retry.
    NewEpoch,
    /// The module lost its initialisation or its device: re-initialise, new epoch, retry.
    Reinitialize,
}

/// Whether a failure means the token or its sessions are unreachable (503) rather than a
/// failure of the request itself.
pub fn is_outage(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::CryptokiNotInitialized
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

pub fn recovery(e: &CkError) -> Recovery {
    let CkError::Pkcs11(rv, _) = e else {
        return Recovery::None;
    };
    match rv {
        RvError::CryptokiNotInitialized
        | RvError::DeviceRemoved
        | RvError::TokenNotPresent
        | RvError::DeviceError => Recovery::Reinitialize,
        // A private key object is refused to a session that lost its login: SoftHSM2 says
        // CKR_KEY_FUNCTION_NOT_PERMITTED rather than CKR_USER_NOT_LOGGED_IN.
        RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::UserNotLoggedIn
        | RvError::ObjectHandleInvalid
        | RvError::KeyHandleInvalid
        | RvError::WrappingKeyHandleInvalid
        | RvError::UnwrappingKeyHandleInvalid
        | RvError::KeyFunctionNotPermitted => Recovery::NewEpoch,
        _ => Recovery::None,
    }
}

/// Why a session could not be opened.
enum Opening {
    /// The module is not initialised (it was finalised): initialise it and try again.
    NotInitialized,
    Failed(PluginError),
}

impl Opening {
    fn into_plugin_error(self) -> PluginError {
        match self {
            Opening::NotInitialized => {
                PluginError::Unavailable("the PKCS#11 module is not initialised".into())
            }
            Opening::Failed(e) => e,
        }
    }
}

/// A failure to reach the token: the module lost its initialisation, or the token is
/// unavailable.
fn unavailable(what: &str, e: CkError) -> Opening {
    match e {
        CkError::Pkcs11(RvError::CryptokiNotInitialized, _) => Opening::NotInitialized,
        e => Opening::Failed(PluginError::Unavailable(format!(
            "{what}: {}",
            describe(&e)
        ))),
    }
}

struct PoolState {
    epoch: u64,
    slot: Option<Slot>,
    idle: Vec<Session>,
    /// Sessions of the current epoch, idle or out.
    open: usize,
    /// Sessions of past epochs still out with a request.
    old_out: usize,
    /// Sessions of past epochs, kept open until no request of a past epoch is left: closing a
    /// session destroys the objects it made, and a request still holding such an object's
    /// handle could otherwise meet that handle reused for another key.
    retired: Vec<Session>,
}

/// A token and a bounded pool of logged-in sessions on it.
pub struct Token {
    library: PathBuf,
    ctx: Pkcs11,
    selector: TokenSelector,
    pin: AuthPin,
    size: usize,
    wait: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

/// A session held by one request; back to the pool when dropped (unless its epoch is over).
pub struct Lease<'a> {
    token: &'a Token,
    session: Option<Session>,
    pub epoch: u64,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        // Present from creation until drop.
        self.session
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lease always holds its session"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let mut st = lock(&self.token.state);
        if st.epoch == self.epoch {
            st.idle.push(session);
            drop(st);
        } else {
            st.retired.push(session);
            st.old_out = st.old_out.saturating_sub(1);
            let closing = if st.old_out == 0 {
                std::mem::take(&mut st.retired)
            } else {
                Vec::new()
            };
            drop(st);
            drop(closing); // closes them: their epoch is over and nobody uses it any more
        }
        self.token.freed.notify_one();
    }
}

impl Token {
    pub fn open(
        library: &Path,
        selector: TokenSelector,
        pin: AuthPin,
        size: usize,
        wait: Duration,
    ) -> Result<Token, PluginError> {
        let ctx = module(library)?;
        let token = Token {
            library: library.to_owned(),
            ctx,
            selector,
            pin,
            size,
            wait,
            state: Mutex::new(PoolState {
                epoch: 0,
                slot: None,
                idle: Vec::new(),
                open: 0,
                old_out: 0,
                retired: Vec::new(),
            }),
            freed: Condvar::new(),
        };
        // Find the token and log in now, so configuration mistakes stop the start-up.
        drop(token.session()?);
        Ok(token)
    }

    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The current epoch: handles cached under another one are gone.
    pub fn epoch(&self) -> u64 {
        lock(&self.state).epoch
    }

    /// A logged-in session for this request alone; waits up to the configured time for one.
    pub fn session(&self) -> Result<Lease<'_>, PluginError> {
        let deadline = Instant::now() + self.wait;
        let mut st = lock(&self.state);
        loop {
            if let Some(session) = st.idle.pop() {
                return Ok(Lease {
                    token: self,
                    session: Some(session),
                    epoch: st.epoch,
                });
            }
            if st.open < self.size {
                st.open += 1;
                let epoch = st.epoch;
                let slot = st.slot;
                drop(st);
                return match self.open_session(slot) {
                    Ok((session, slot)) => {
                        let mut st = lock(&self.state);
                        if st.epoch == epoch {
                            st.slot = Some(slot);
                        }
                        Ok(Lease {
                            token: self,
                            session: Some(session),
                            epoch,
                        })
                    }
                    Err(e) => {
                        let mut st = lock(&self.state);
                        if st.epoch == epoch {
                            st.open -= 1;
                        }
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PluginError::Unavailable(format!(
                    "no free HSM session within {} ms (session_pool_size = {})",
                    self.wait.as_millis(),
                    self.size
                )));
            }
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Open and log in a session; a module found uninitialised (it was finalised under us) is
    /// initialised again, once.
    fn open_session(&self, known: Option<Slot>) -> Result<(Session, Slot), PluginError> {
        match self.try_open_session(known) {
            Err(Opening::NotInitialized) => {
                initialize(&self.ctx).map_err(|e| {
                    PluginError::Unavailable(format!(
                        "cannot initialise the PKCS#11 module: {}",
                        describe(&e)
                    ))
                })?;
                self.try_open_session(None)
                    .map_err(Opening::into_plugin_error)
            }
            other => other.map_err(Opening::into_plugin_error),
        }
    }

    fn try_open_session(&self, known: Option<Slot>) -> Result<(Session, Slot), Opening> {
        let slot = match known {
            Some(slot) => slot,
            None => self.find_slot()?,
        };
        let session = self
            .ctx
            .open_rw_session(slot)
            .map_err(|e| unavailable("cannot open an HSM session", e))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok((session, slot)),
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
                Err(Opening::Failed(PluginError::Config(
                    "the HSM refused the configured PIN".into(),
                )))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Opening::Failed(
                PluginError::Config("the token's user PIN is locked".into()),
            )),
            Err(e) => Err(unavailable("cannot log in to the token", e)),
        }
    }

    fn find_slot(&self) -> Result<Slot, Opening> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| unavailable("cannot list the HSM's slots", e))?;
        match &self.selector {
            TokenSelector::SlotId(id) => {
                slots.into_iter().find(|s| s.id() == *id).ok_or_else(|| {
                    Opening::Failed(PluginError::Config(format!("no token in slot {id}")))
                })
            }
            TokenSelector::Label(label) => {
                let mut seen = Vec::new();
                for slot in slots {
                    let Ok(info) = self.ctx.get_token_info(slot) else {
                        continue;
                    };
                    let l = info.label().trim_end().to_owned();
                    if &l == label {
                        return Ok(slot);
                    }
                    if !l.is_empty() {
                        seen.push(l);
                    }
                }
                Err(Opening::Failed(PluginError::Config(format!(
                    "no token labelled '{label}' (tokens present: {})",
                    if seen.is_empty() {
                        "none".to_owned()
                    } else {
                        seen.join(", ")
                    }
                ))))
            }
        }
    }

    /// Start a new epoch after a failure seen under `seen` (only once per epoch, however many
    /// requests saw it): idle sessions close, sessions still out close when they return, the
    /// slot is looked up again; with `Reinitialize`, the module is initialised again first.
    pub fn recover(&self, seen: u64, how: Recovery) {
        let stale = {
            let mut st = lock(&self.state);
            if st.epoch != seen || how == Recovery::None {
                return;
            }
            // Under the lock, so no request opens a session of the new epoch before it.
            if how == Recovery::Reinitialize {
                if let Err(e) = initialize(&self.ctx) {
                    tracing::warn!(error = %describe(&e), "re-initialising the PKCS#11 module failed");
                }
            }
            let out = st.open.saturating_sub(st.idle.len());
            st.epoch += 1;
            st.slot = None;
            st.open = 0;
            st.old_out += out;
            let idle = std::mem::take(&mut st.idle);
            st.retired.extend(idle);
            if st.old_out == 0 {
                std::mem::take(&mut st.retired)
            } else {
                Vec::new()
            }
        };
        drop(stale);
        self.freed.notify_all();
    }
}
