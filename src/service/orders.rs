//! Orders: durable requests to generate a symmetric key (`key`) or an RSA key pair
//! (`asymmetric`).
//!
//! Submission writes the order PENDING and hands it to the workers; the request then waits a
//! little (`orders.inline_wait_ms`) so most orders are finished on the first GET, as with
//! Barbican's synchronous mode. Workers claim an order with a short lease, generate through the
//! store plugin, and in one transaction insert what was generated and mark the order ACTIVE
//! (or ERROR: a spec no store generates is accepted, as by Barbican, and failed here, never
//! generated). While a worker lives, its instance's heartbeat renews the lease (every third
//! of `orders.lease_seconds`); a poller (every `orders.poll_seconds`) claims orders nobody
//! holds a live lease on: never claimed (a restart), or whose instance died or gave up on them
//! (a database outage). Completion and failure are conditional on the lease, so an order that
//! two workers generated is still finished once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use plugin_api::{
    AuthContext, KeyPairTargets, KeySpec, PluginError, SecretType, StoreContext, StoreMetadata,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::containers::NewContainer;
use super::quotas::{over_quota, Resource};
use super::secrets::{key_spec, new_row, NewSecret};
use super::Services;
use super::{During, Operation, ServiceError};
use crate::config::OrderSettings;
use crate::db::containers::{self as container_db, ContainerRow};
use crate::db::orders as order_db;
pub use crate::db::orders::OrderRow;
use crate::db::secrets::{self as secret_db, SecretRow};
use crate::db::{DbConn, DbError};
use crate::model::SecretRef;
use crate::policy::order_target;
use crate::timefmt;

pub mod ops {
    pub const CREATE: &str = "Order creation";
    pub const LIST: &str = "Order(s) retrieval";
    pub const GET: &str = "Order retrieval";
    pub const DELETE: &str = "Order deletion";
    pub const UPDATE: &str = "Order update";
    pub const PROCESS: &str = "Process TypeOrder";
}

/// A validated order.
pub struct NewOrder {
    /// `key` or `asymmetric`.
    pub order_type: String,
    /// The meta to store and echo (without any passphrase).
    pub meta: Map<String, Value>,
    pub spec: KeySpec,
    /// The generated secret's fields.
    pub fields: NewSecret,
    /// The normalized content type of generated secrets.
    pub content_type: String,
}

/// The content type of the secrets an order generates: `meta.payload_content_type`, normalized;
/// absent, null or empty means `application/octet-stream` (Barbican's default; it treats an
/// empty value as absent when validating).
pub fn order_content_type(meta: &Map<String, Value>) -> String {
    meta.get("payload_content_type")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(crate::media::normalize)
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// Work for an order worker.
enum Work {
    /// An order submitted here: claim it, then work it.
    Submitted(String),
    /// An order the poller already claimed for this process (its lease is renewed from the
    /// claim on).
    Claimed(Box<OrderRow>, Held),
}

/// The orders this instance's workers are on, by id (a count: the poller may hand a worker an
/// order whose lease another worker of this instance let lapse). The heartbeat renews their
/// leases, and only theirs: an order a worker gave up on (to retry later) is let go.
#[derive(Default)]
struct Holdings(Mutex<HashMap<String, usize>>);

impl Holdings {
    fn ids(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }
}

/// A worker's hold on an order: its lease is renewed until this is dropped (the work is over,
/// or the worker panicked).
struct Held {
    holdings: Arc<Holdings>,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self
            .holdings
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

/// Hands orders to the workers and tells submitters when theirs is done.
pub struct OrderQueue {
    settings: OrderSettings,
    /// This process's lease-owner name.
    owner: String,
    sender: Mutex<Option<Sender<Work>>>,
    /// Orders handed to the workers and not finished yet (the poller claims only for idle
    /// workers, so a claimed order does not wait in the channel while its lease runs).
    in_flight: AtomicUsize,
    /// The orders whose leases the heartbeat renews.
    holdings: Arc<Holdings>,
    waiters: Mutex<HashMap<String, Vec<tokio::sync::oneshot::Sender<()>>>>,
}

impl OrderQueue {
    pub fn new(settings: OrderSettings) -> Self {
        OrderQueue {
            owner: format!("coffer-{}-{}", std::process::id(), uuid::Uuid::new_v4()),
            settings,
            sender: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            holdings: Arc::default(),
            waiters: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &OrderSettings {
        &self.settings
    }

    /// How long a claim (or a renewal) holds an order.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.settings.lease_seconds).unwrap_or(15))
    }

    /// How often the heartbeat renews the leases: three times per lease, so a renewal that
    /// fails once (a busy or briefly unreachable database) still leaves time for the next.
    fn renew_every(&self) -> Duration {
        Duration::from_millis(self.settings.lease_seconds.saturating_mul(1000) / 3)
    }

    /// Renew the lease on order `id` until the returned hold is dropped.
    fn hold(&self, id: &str) -> Held {
        *self
            .holdings
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default() += 1;
        Held {
            holdings: Arc::clone(&self.holdings),
            id: id.to_owned(),
        }
    }

    /// Hand work to the workers; `false` when they are gone (shutting down: the poller of the
    /// next start, or of another instance, picks the order up once its lease expires).
    fn send(&self, work: Work) -> bool {
        let guard = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else {
            return false;
        };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if tx.send(work).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn enqueue(&self, id: &str) {
        self.send(Work::Submitted(id.to_owned()));
    }

    /// How many more orders the workers could start now.
    fn idle_workers(&self) -> usize {
        self.settings
            .workers
            .saturating_sub(self.in_flight.load(Ordering::SeqCst))
    }

    /// A receiver that fires when order `id` is finished (ACTIVE or ERROR).
    pub fn watch(&self, id: &str) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    fn finished(&self, id: &str) {
        let waiting = self
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        for tx in waiting.into_iter().flatten() {
            let _ = tx.send(());
        }
    }

    /// Forget watchers that gave up (the order is still processed).
    pub fn unwatch(&self, id: &str) {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// Start the order workers, the poller and the lease heartbeat. They stop by themselves once
/// `services` is dropped.
pub fn start_workers(services: &Arc<Services>) {
    let (tx, rx) = mpsc::channel::<Work>();
    *services
        .order_queue
        .sender
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(tx);
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..services.order_queue.settings.workers {
        let weak = Arc::downgrade(services);
        let rx = Arc::clone(&rx);
        let spawned = std::thread::Builder::new()
            .name(format!("coffer-order-{n}"))
            .spawn(move || worker_loop(weak, rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start an order worker");
        }
    }
    let weak = Arc::downgrade(services);
    let poll = Duration::from_secs(services.order_queue.settings.poll_seconds.max(1));
    let spawned = std::thread::Builder::new()
        .name("coffer-order-poller".into())
        .spawn(move || poller_loop(weak, poll));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the order poller");
    }
    let weak = Arc::downgrade(services);
    let every = services.order_queue.renew_every();
    let spawned = std::thread::Builder::new()
        .name("coffer-order-heartbeat".into())
        .spawn(move || heartbeat_loop(weak, every));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the order lease heartbeat");
    }
    let settings = &services.order_queue.settings;
    tracing::info!(
        owner = %services.order_queue.owner,
        workers = settings.workers,
        lease_seconds = settings.lease_seconds,
        poll_seconds = settings.poll_seconds,
        "order workers started"
    );
}

/// Sleep for `pause` in short steps; `false` once the service is gone (stop at once).
fn pause(services: &Weak<Services>, pause: Duration) -> bool {
    let step = pause.min(Duration::from_millis(200));
    let mut slept = Duration::ZERO;
    while slept < pause {
        std::thread::sleep(step);
        slept += step;
        if services.strong_count() == 0 {
            return false;
        }
    }
    true
}

/// Every `every`, renew the leases on the orders this instance's workers are on, so that
/// only the orders of a dead instance (or given up on) expire and are claimed by others.
fn heartbeat_loop(services: Weak<Services>, every: Duration) {
    while pause(&services, every) {
        let Some(s) = services.upgrade() else { return };
        let ids = s.order_queue.holdings.ids();
        if ids.is_empty() {
            continue;
        }
        let owner = s.order_queue.owner.clone();
        let until = timefmt::now() + s.order_queue.lease();
        let held = ids.len();
        match s.db.write(move |c| order_db::renew(c, &owner, &ids, until)) {
            Ok(renewed) if renewed < held => {
                // The others finished meanwhile, or were taken over after a lapse (their
                // completion here will then be refused).
                tracing::debug!(held, renewed, "renewed order leases");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, held, "could not renew order leases"),
        }
    }
}

fn worker_loop(services: Weak<Services>, rx: Arc<Mutex<Receiver<Work>>>) {
    loop {
        let next = rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv_timeout(Duration::from_millis(500));
        match next {
            Ok(work) => {
                let Some(s) = services.upgrade() else { return };
                match work {
                    Work::Submitted(id) => s.orders().process(&id),
                    Work::Claimed(order, _held) => s.orders().work_claimed(&order),
                }
                s.order_queue.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            Err(RecvTimeoutError::Timeout) => {
                if services.strong_count() == 0 {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Every `every`, claim PENDING orders nobody works on (left by a restart, a dead worker, or
/// another instance) for this process's idle workers. While a claim comes back full there may
/// be more waiting: look again as soon as workers are free instead of after `every`.
fn poller_loop(services: Weak<Services>, every: Duration) {
    const BACKLOG_PAUSE: Duration = Duration::from_millis(100);
    let mut backlog = false;
    loop {
        let Some(s) = services.upgrade() else { return };
        let idle = s.order_queue.idle_workers();
        if idle > 0 {
            let owner = s.order_queue.owner.clone();
            let now = timefmt::now();
            let until = now + s.order_queue.lease();
            let limit = i64::try_from(idle).unwrap_or(1);
            match s
                .db
                .write(move |c| order_db::claim_batch(c, &owner, until, now, limit))
            {
                Ok(orders) => {
                    backlog = orders.len() == idle;
                    for order in orders {
                        tracing::info!(order = %order.id, attempt = order.attempts, "picked up a pending order");
                        let held = s.order_queue.hold(&order.id);
                        if !s.order_queue.send(Work::Claimed(Box::new(order), held)) {
                            return;
                        }
                    }
                }
                Err(e) => {
                    backlog = false;
                    tracing::warn!(error = %e, "order poller could not claim pending orders");
                }
            }
        }
        drop(s);
        // Sleep in short steps so a dropped service stops the poller promptly.
        if !pause(&services, if backlog { BACKLOG_PAUSE } else { every }) {
            return;
        }
    }
}

/// What a finished generation produced, to insert with the order's completion.
struct Generated {
    secrets: Vec<SecretRow>,
    container: Option<(ContainerRow, Vec<SecretRef>)>,
    secret_id: Option<String>,
    container_id: Option<String>,
}

/// Why a generation failed: retry later, fail the order with a status and reason, or this
/// worker no longer holds the order (taken over or deleted: what it generated is dropped).
enum GenerationError {
    Retry(String),
    Fail(i32, String),
    LeaseLost,
}

impl GenerationError {
    /// No store generates the spec: Barbican's `SecretGenerateSupportedPluginNotFound` (400).
    fn unsupported() -> Self {
        ServiceError::Refused {
            operation: ops::PROCESS,
            reason: "Secret generate supported plugin not found.",
        }
        .into()
    }
}

impl From<PluginError> for GenerationError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Unavailable(m) => GenerationError::Retry(m),
            PluginError::Unsupported(_) | PluginError::InvalidInput(_) => {
                GenerationError::unsupported()
            }
            other => ServiceError::internal(ops::PROCESS, other.to_string()).into(),
        }
    }
}

/// A failed order records the status and sentence a synchronous request would have been
/// answered with; the one mapping of errors to statuses gives both.
impl From<ServiceError> for GenerationError {
    fn from(e: ServiceError) -> Self {
        let (status, sentence) = crate::error::status_and_description(e);
        GenerationError::Fail(i32::from(status), sentence)
    }
}

/// Everything an order can do: submit (PENDING within the quota, then queued), find and authorize,
/// list, delete; and the worker's side: claim, generate, complete or fail.
///
/// A view of [`Services`] (`services.orders()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct Orders<'a> {
    s: &'a Services,
}

impl Services {
    pub fn orders(&self) -> Orders<'_> {
        Orders { s: self }
    }
}

impl Orders<'_> {
    /// Submit an order: written PENDING within the quota, to be queued. A spec the store cannot
    /// generate is accepted too (Barbican answers 202 and fails the order); the worker fails it.
    pub fn submit(&self, caller: &AuthContext, new: NewOrder) -> Result<OrderRow, ServiceError> {
        let store = self
            .s
            .secret_stores()
            .for_project(&caller.project_id, ops::CREATE)?;
        let now = timefmt::now();
        let id = uuid::Uuid::new_v4().to_string();
        // A passphrase is stored at once, encrypted, as the secret the key pair will use (not
        // for a spec the store cannot generate: nothing would use it).
        let passphrase = match &new.spec.passphrase {
            Some(p) if store.store.generate_supports(&new.spec) => {
                let fields = NewSecret {
                    secret_type: SecretType::Passphrase,
                    payload: None,
                    ..copy_fields(&new.fields)
                };
                let mut row = new_row(
                    uuid::Uuid::new_v4().to_string(),
                    &caller.project_id,
                    caller.user_id.as_deref(),
                    &fields,
                    now,
                );
                let payload = super::secrets::Payload {
                    bytes: Zeroizing::new(p.as_bytes().to_vec()),
                    content_type: new.content_type.clone(),
                };
                let meta = self.store_generated(&row, &payload)?;
                row.content_type = Some(new.content_type.clone());
                row.store_name = Some(store.name.clone());
                row.store_metadata = Some(secret_db::encode_metadata(&meta));
                Some(row)
            }
            _ => None,
        };
        let row = OrderRow {
            id,
            project_id: caller.project_id.clone(),
            creator_id: caller.user_id.clone(),
            order_type: new.order_type,
            status: order_db::PENDING.to_owned(),
            meta: Value::Object(new.meta).to_string(),
            secret_id: None,
            container_id: None,
            passphrase_secret_id: passphrase.as_ref().map(|p| p.id.clone()),
            error_status_code: None,
            error_reason: None,
            sub_status: Some("Unknown".to_owned()),
            sub_status_message: Some("Unknown".to_owned()),
            lease_owner: None,
            lease_expires_at: None,
            attempts: 0,
            created_at: now,
            updated_at: now,
        };
        let defaults = self.s.quota_defaults;
        let (inserted, passphrase_row) = (row.clone(), passphrase.clone());
        let outcome = self.s.db.write(move |c| -> Result<bool, DbError> {
            if over_quota(c, &defaults, &inserted.project_id, Resource::Orders)? {
                return Ok(false);
            }
            if let Some(p) = &passphrase_row {
                secret_db::insert(c, p)?;
            }
            order_db::insert(c, &inserted)?;
            Ok(true)
        });
        match outcome {
            Ok(true) => Ok(row),
            Ok(false) | Err(_) => {
                // Refused (or not written): the passphrase stored above belongs to nothing.
                if let Some(p) = &passphrase {
                    self.release_order_secret(p);
                }
                match outcome {
                    Ok(_) => Err(ServiceError::QuotaReached(ops::CREATE)),
                    Err(e) => Err(e).during(ops::CREATE),
                }
            }
        }
    }

    /// Best-effort release of what a store holds for a secret that is not (or no longer)
    /// persisted: an order's passphrase, or keys generated for an order another worker finished.
    fn release_order_secret(&self, row: &SecretRow) {
        let Some(store_name) = row.store_name.as_deref() else {
            return;
        };
        let Some(store) = self.s.plugins.stores.get(store_name) else {
            return;
        };
        let meta = match row.metadata() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(secret = %row.id, error = %e, "could not release stored material");
                return;
            }
        };
        let keks = self.s.keks_for(&row.project_id, store_name);
        let ctx = StoreContext {
            project_id: &row.project_id,
            secret_id: &row.id,
            keks: &keks,
        };
        if let Err(e) = store.store.delete_secret(ctx, &meta) {
            tracing::warn!(secret = %row.id, error = %e, "could not release stored material");
        }
    }

    /// Queue an order for the workers.
    pub fn enqueue(&self, id: &str) {
        self.s.order_queue.enqueue(id);
    }

    /// Store the passphrase of an order (encrypted like any payload) before the order exists.
    fn store_generated(
        &self,
        row: &SecretRow,
        payload: &super::secrets::Payload,
    ) -> Result<StoreMetadata, ServiceError> {
        let store = self
            .s
            .secret_stores()
            .for_project(&row.project_id, ops::CREATE)?;
        let keks = self.s.keks_for(&row.project_id, &store.name);
        let ctx = StoreContext {
            project_id: &row.project_id,
            secret_id: &row.id,
            keks: &keks,
        };
        let dto = plugin_api::SecretDto {
            secret_type: SecretType::Passphrase,
            payload: payload.bytes.clone(),
            content_type: payload.content_type.clone(),
            key_spec: KeySpec::default(),
        };
        store.store.store_secret(ctx, &dto).during(ops::CREATE)
    }

    /// An order of the caller's project, authorized for `action`; 404 otherwise (orders of
    /// other projects are invisible, as in Barbican).
    pub fn authorized(
        &self,
        caller: &AuthContext,
        id: &str,
        action: &str,
        operation: Operation,
    ) -> Result<OrderRow, ServiceError> {
        // Order ids are UUIDs: anything else (a NUL, 3,000 characters) is not looked up.
        let row = if super::is_uuid4(id) {
            let mut conn = self.s.conn(operation)?;
            order_db::get(&mut conn, id).during(operation)?
        } else {
            None
        }
        .filter(|o| o.project_id == caller.project_id)
        .ok_or_else(|| ServiceError::not_found("Order not found."))?;
        self.s.authorize(
            caller,
            action,
            &order_target(&row.project_id, row.creator_id.as_deref()),
            operation,
        )?;
        Ok(row)
    }

    pub fn list(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OrderRow>, i64), ServiceError> {
        let mut conn = self.s.conn(ops::LIST)?;
        order_db::list(&mut conn, project_id, offset, limit).during(ops::LIST)
    }

    /// How many orders are PENDING, and how long the oldest has waited (zero when none).
    pub fn pending(&self) -> Result<(i64, Duration), DbError> {
        let mut conn = self.s.db.conn()?;
        let (n, oldest) = order_db::pending_summary(&mut conn)?;
        let age = oldest
            .map(|t| timefmt::now() - t)
            .and_then(|d| d.to_std().ok())
            .unwrap_or_default();
        Ok((n, age))
    }

    pub fn delete(&self, id: &str) -> Result<(), ServiceError> {
        let id = id.to_owned();
        if self
            .s
            .write(ops::DELETE, move |c| order_db::delete(c, &id))?
        {
            Ok(())
        } else {
            Err(ServiceError::not_found("Order not found."))
        }
    }

    /// Work one order submitted here (called by the workers). Safe to call for any id: only
    /// a claimable order is worked.
    pub fn process(&self, id: &str) {
        let _held = self.s.order_queue.hold(id);
        let now = timefmt::now();
        let until = now + self.s.order_queue.lease();
        let (order_id, lease_owner) = (id.to_owned(), self.s.order_queue.owner.clone());
        let claimed = self
            .s
            .db
            .write(move |c| order_db::claim(c, &order_id, &lease_owner, until, now));
        match claimed {
            Ok(Some(order)) => self.work_claimed(&order),
            Ok(None) => {}
            Err(e) => tracing::warn!(order = id, error = %e, "could not claim order"),
        }
    }

    /// Work an order this process holds the lease on.
    fn work_claimed(&self, order: &OrderRow) {
        let settings = &self.s.order_queue.settings;
        let owner = self.s.order_queue.owner.as_str();
        let id = order.id.as_str();
        let outcome = self
            .generate(order)
            .and_then(|g| self.finish(order, owner, g));
        match outcome {
            Ok(()) => {
                tracing::info!(order = id, "order completed");
                self.order_event(order, plugin_api::EventKind::OrderCompleted, None);
            }
            Err(GenerationError::Retry(why)) if order.attempts < settings.max_attempts => {
                // Leave it PENDING: once this worker lets go, the heartbeat stops renewing the
                // lease, which expires within `lease_seconds`; then a poller retries it.
                tracing::warn!(order = id, attempt = order.attempts, error = %why, "order will be retried");
                return;
            }
            Err(GenerationError::LeaseLost) => {
                tracing::info!(
                    order = id,
                    "order no longer held by this worker (taken over or deleted); its result was dropped"
                );
                return;
            }
            Err(GenerationError::Retry(why)) => {
                tracing::error!(order = id, error = %why, "order failed after retries");
                self.fail_order(
                    order,
                    owner,
                    503,
                    &format!("{} issue seen - backend unavailable.", ops::PROCESS),
                );
            }
            Err(GenerationError::Fail(code, reason)) => {
                tracing::warn!(order = id, code, reason = %reason, "order failed");
                self.fail_order(order, owner, code, &reason);
            }
        }
        self.s.order_queue.finished(id);
    }

    /// Tell the event instances how an order ended.
    fn order_event(
        &self,
        order: &OrderRow,
        kind: plugin_api::EventKind,
        failure: Option<(i32, &str)>,
    ) {
        let events = &self.s.plugins.events;
        let phase = if failure.is_some() {
            plugin_api::Phase::Failure
        } else {
            plugin_api::Phase::Success
        };
        if !events.wants(kind, phase) {
            return;
        }
        let mut details = std::collections::BTreeMap::new();
        details.insert("order_type".to_owned(), order.order_type.clone());
        if let Some((code, reason)) = failure {
            details.insert("error_status_code".to_owned(), code.to_string());
            details.insert("error_reason".to_owned(), reason.to_owned());
        }
        events.emit(&plugin_api::Event {
            kind,
            phase,
            time: std::time::SystemTime::now(),
            request_id: None,
            actor: plugin_api::Actor {
                project_id: Some(order.project_id.clone()),
                user_id: order.creator_id.clone(),
                roles: Vec::new(),
            },
            subject: plugin_api::Subject {
                kind: "order".to_owned(),
                id: Some(order.id.clone()),
            },
            request: None,
            status: None,
            details,
        });
    }

    /// Mark the order ERROR (if this worker still holds it) and delete its passphrase secret
    /// in the same transaction: a failed order leaves nothing behind in the project.
    fn fail_order(&self, order: &OrderRow, owner: &str, code: i32, reason: &str) {
        let (id, owner, text) = (order.id.clone(), owner.to_owned(), reason.to_owned());
        let passphrase = order.passphrase_secret_id.clone();
        let r = self
            .s
            .db
            .write(move |c| -> Result<Option<Option<SecretRow>>, DbError> {
                if !order_db::fail(c, &id, &owner, code, &text, timefmt::now())? {
                    return Ok(None);
                }
                match &passphrase {
                    Some(p) => order_db::take_secret(c, p).map(Some),
                    None => Ok(Some(None)),
                }
            });
        match r {
            Ok(Some(passphrase)) => {
                if let Some(p) = &passphrase {
                    self.release_order_secret(p);
                }
                self.order_event(
                    order,
                    plugin_api::EventKind::OrderFailed,
                    Some((code, reason)),
                );
            }
            Ok(None) => {
                tracing::info!(
                    order = %order.id,
                    "order no longer held by this worker (taken over or deleted); not failed here"
                );
            }
            Err(e) => {
                tracing::error!(order = %order.id, error = %e, "could not record order failure");
            }
        }
    }

    /// Generate what the order asks for (nothing is persisted yet).
    fn generate(&self, order: &OrderRow) -> Result<Generated, GenerationError> {
        let meta: Map<String, Value> = serde_json::from_str(&order.meta).map_err(|e| {
            GenerationError::from(ServiceError::internal(
                ops::PROCESS,
                format!("stored meta unreadable: {e}"),
            ))
        })?;
        let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
        let fields = NewSecret {
            name: text("name"),
            secret_type: SecretType::Symmetric,
            algorithm: text("algorithm"),
            bit_length: meta
                .get("bit_length")
                .and_then(Value::as_i64)
                .and_then(|b| i32::try_from(b).ok()),
            mode: text("mode"),
            expiration: text("expiration").and_then(|e| timefmt::parse_isotime(&e)),
            payload: None,
        };
        let content_type = order_content_type(&meta);
        let mut spec = key_spec(
            fields.algorithm.as_deref(),
            fields.bit_length,
            fields.mode.as_deref(),
        );
        let store = self
            .s
            .secret_stores()
            .for_project(&order.project_id, ops::PROCESS)?;
        if !store.store.generate_supports(&spec) {
            // Never generated: not even a store that would (wrongly) try.
            tracing::info!(
                order = %order.id,
                store = %store.name,
                algorithm = ?spec.algorithm,
                bit_length = ?spec.bit_length,
                mode = ?spec.mode,
                "no store generates this key spec"
            );
            return Err(GenerationError::unsupported());
        }
        let now = timefmt::now();
        let secret = |t: SecretType| {
            let f = NewSecret {
                secret_type: t,
                ..copy_fields(&fields)
            };
            let mut row = new_row(
                uuid::Uuid::new_v4().to_string(),
                &order.project_id,
                order.creator_id.as_deref(),
                &f,
                now,
            );
            row.content_type = Some(content_type.clone());
            row.store_name = Some(store.name.clone());
            row
        };
        let keks_project = order.project_id.clone();
        let keks = self.s.keks_for(&keks_project, &store.name);

        if order.order_type == "key" {
            let mut row = secret(SecretType::Symmetric);
            let ctx = StoreContext {
                project_id: &order.project_id,
                secret_id: &row.id,
                keks: &keks,
            };
            let meta = store.store.generate_symmetric_key(ctx, &spec)?;
            row.store_metadata = Some(secret_db::encode_metadata(&meta));
            return Ok(Generated {
                secret_id: Some(row.id.clone()),
                secrets: vec![row],
                container: None,
                container_id: None,
            });
        }

        // Asymmetric: the passphrase (if any) was stored at submission.
        let passphrase_row = match &order.passphrase_secret_id {
            Some(pid) => {
                let row = self
                    .s
                    .db
                    .conn()
                    .and_then(|mut c| secret_db::get_live(&mut c, pid, now))
                    .map_err(|e| GenerationError::Retry(e.to_string()))?
                    .ok_or_else(|| {
                        GenerationError::from(ServiceError::Refused {
                            operation: ops::PROCESS,
                            reason: "the order's passphrase secret is gone",
                        })
                    })?;
                let bytes = self.s.secrets().payload(&row, ops::PROCESS)?;
                spec.passphrase =
                    Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()));
                Some(row)
            }
            None => None,
        };
        let mut private = secret(SecretType::Private);
        let mut public = secret(SecretType::Public);
        let targets = KeyPairTargets {
            private_key: StoreContext {
                project_id: &order.project_id,
                secret_id: &private.id,
                keks: &keks,
            },
            public_key: StoreContext {
                project_id: &order.project_id,
                secret_id: &public.id,
                keks: &keks,
            },
            passphrase: None,
        };
        let generated = store.store.generate_asymmetric_key(targets, &spec)?;
        private.store_metadata = Some(secret_db::encode_metadata(&generated.private_key));
        public.store_metadata = Some(secret_db::encode_metadata(&generated.public_key));
        let mut refs = vec![
            SecretRef {
                name: Some("private_key".into()),
                secret_id: private.id.clone(),
            },
            SecretRef {
                name: Some("public_key".into()),
                secret_id: public.id.clone(),
            },
        ];
        if let Some(p) = &passphrase_row {
            refs.push(SecretRef {
                name: Some("private_key_passphrase".into()),
                secret_id: p.id.clone(),
            });
        }
        let container = NewContainer {
            name: fields.name.clone(),
            container_type: "rsa".into(),
            refs,
        };
        let crow = ContainerRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: order.project_id.clone(),
            creator_id: order.creator_id.clone(),
            name: container.name,
            container_type: container.container_type,
            status: "ACTIVE".into(),
            acl_project_access: None,
            acl_users: None,
            acl_created_at: None,
            acl_updated_at: None,
            created_at: now,
            updated_at: now,
        };
        Ok(Generated {
            secret_id: None,
            container_id: Some(crow.id.clone()),
            secrets: vec![private, public],
            container: Some((crow, container.refs)),
        })
    }

    /// Insert what was generated and mark the order ACTIVE, atomically, if this worker still
    /// holds the order.
    fn finish(&self, order: &OrderRow, owner: &str, g: Generated) -> Result<(), GenerationError> {
        const LEASE_LOST: &str = "order lease lost";
        let (order_id, owner) = (order.id.clone(), owner.to_owned());
        let generated = g.secrets.clone();
        let result = self
            .s
            .db
            .write(move |c: &mut DbConn| -> Result<bool, DbError> {
                for s in &g.secrets {
                    secret_db::insert(c, s)?;
                }
                if let Some((row, refs)) = &g.container {
                    container_db::insert(c, row, refs)?;
                }
                if !order_db::complete(
                    c,
                    &order_id,
                    &owner,
                    g.secret_id.as_deref(),
                    g.container_id.as_deref(),
                    timefmt::now(),
                )? {
                    // The lease was lost (another worker took over, or the order was deleted):
                    // keep nothing of this run.
                    return Err(DbError::Query(LEASE_LOST.into()));
                }
                Ok(true)
            });
        match result {
            Ok(_) => Ok(()),
            Err(DbError::Query(m)) if m == LEASE_LOST => {
                // Rolled back for certain: what the store holds for these keys is nobody's.
                for s in &generated {
                    self.release_order_secret(s);
                }
                Err(GenerationError::LeaseLost)
            }
            Err(DbError::Unavailable(m)) => Err(GenerationError::Retry(m)),
            Err(e) => {
                tracing::warn!(order = %order.id, error = %e, "order result not stored");
                Err(GenerationError::Retry(e.to_string()))
            }
        }
    }
}

fn copy_fields(f: &NewSecret) -> NewSecret {
    NewSecret {
        name: f.name.clone(),
        secret_type: f.secret_type,
        algorithm: f.algorithm.clone(),
        bit_length: f.bit_length,
        mode: f.mode.clone(),
        expiration: f.expiration,
        payload: None,
    }
}
