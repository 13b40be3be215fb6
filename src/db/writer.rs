//! Group commit: every write runs on one writer thread with its own connection. The writer
//! takes all the writes waiting, runs each in its own savepoint inside one transaction, commits
//! once (one fsync for the whole batch, `synchronous=FULL`), and only then answers each caller.
//!
//! So an acknowledged write is on disk, writers never wait on SQLite's lock (no busy-sleep
//! latency tail), and throughput grows with concurrency instead of being one fsync per write.
//! Jobs must not call [`Writer::write`] themselves (the writer would wait on itself).

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};

use diesel::connection::TransactionManager;
use diesel::Connection;

use super::conn::begin_write;
use super::{DbConn, DbError};

/// Runs the job on the writer's connection (`None`: the transaction could not start) and
/// returns how to deliver its result once the batch's commit outcome is known.
type Job = Box<dyn FnOnce(Option<&mut DbConn>) -> Deliver + Send>;
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The most writes committed together.
const MAX_BATCH: usize = 512;

/// Hands writes to the writer thread.
pub struct Writer {
    jobs: Mutex<Sender<Job>>,
}

impl Writer {
    /// Start the writer thread on `conn` (a SQLite connection configured by the caller: WAL,
    /// synchronous, ...).
    pub fn start(conn: DbConn) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("coffer-db-writer".into())
            .spawn(move || run(conn, rx))?;
        Ok(Writer {
            jobs: Mutex::new(tx),
        })
    }

    /// Run `f` in its own savepoint of the next group commit; returns once the commit is durable.
    pub fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        let (reply, answer): (SyncSender<Result<T, DbError>>, _) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: Option<&mut DbConn>| {
            let result = match conn {
                Some(c) => c.transaction(f),
                None => Err(DbError::Unavailable(
                    "could not start a write transaction".into(),
                )),
            };
            Box::new(move |committed: Result<(), String>| {
                let outcome = match committed {
                    Ok(()) => result,
                    Err(e) => Err(DbError::Unavailable(format!("commit failed: {e}"))),
                };
                let _ = reply.send(outcome);
            }) as Deliver
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
        if sent.is_err() {
            return Err(DbError::Unavailable(
                "the database writer has stopped".into(),
            ));
        }
        answer.recv().unwrap_or_else(|_| {
            Err(DbError::Unavailable(
                "the database writer has stopped".into(),
            ))
        })
    }
}

fn run(mut conn: DbConn, rx: Receiver<Job>) {
    type Tm = <DbConn as Connection>::TransactionManager;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut deliveries: Vec<Deliver> = Vec::with_capacity(batch.len());
        metrics::histogram!(crate::metrics::SQLITE_BATCH).record(batch.len() as f64);
        let committed = match begin_write(&mut conn) {
            Ok(()) => {
                for job in batch.drain(..) {
                    deliveries.push(job(Some(&mut conn)));
                }
                let started = std::time::Instant::now();
                let done = Tm::commit_transaction(&mut conn).map_err(|e| {
                    let _ = Tm::rollback_transaction(&mut conn);
                    e.to_string()
                });
                metrics::histogram!(crate::metrics::SQLITE_FSYNC)
                    .record(started.elapsed().as_secs_f64());
                done
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, writes = deliveries.len() + batch.len(), "group commit failed");
        }
        // Jobs that never ran (the transaction did not start) fail too.
        deliveries.extend(batch.drain(..).map(|job| job(None)));
        for deliver in deliveries {
            deliver(committed.clone());
        }
    }
}
