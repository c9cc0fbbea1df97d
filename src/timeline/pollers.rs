//! Shared pollers behind `Subscription.historyAdded`: one poller per subject set, however many
//! clients subscribe to it; it reads the change feed at the sources' poll interval and
//! broadcasts new entries (oldest first). It stops when its last subscriber leaves.

use super::engine::{read_changes, start_marks};
use crate::domain::{HistoryEntry, SubjectRef};
use crate::sources::Sources;
use crate::upstream::{CallerCredentials, RequestScope};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Entries a slow subscriber may fall behind by before it skips ahead.
const CHANNEL_CAPACITY: usize = 1024;

/// One running poller; dropping the last handle stops its task.
pub struct Poller {
    sender: broadcast::Sender<Arc<HistoryEntry>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Poller {
    /// A new receiver of this poller's entries.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<HistoryEntry>> {
        self.sender.subscribe()
    }
}

/// The registry of running pollers, keyed by subject set and the callers' credentials.
pub struct Pollers {
    running: Mutex<HashMap<String, Weak<Poller>>>,
    /// Most pollers running at once (`server.max_pollers`): each one calls upstreams every
    /// poll interval, so one client must not be able to start thousands.
    max: usize,
}

/// A new subject set was refused: the process already runs `max` pollers.
#[derive(Debug)]
pub struct TooManyPollers {
    pub max: usize,
}

impl Default for Pollers {
    fn default() -> Self {
        Pollers::new(500)
    }
}

impl Pollers {
    pub fn new(max: usize) -> Self {
        Pollers {
            running: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// The poller for `subjects` read with `credentials` (callers' own vendor credentials, if
    /// any), started if none runs yet: subscribers with other credentials never share one.
    /// Returns the handle (keep it alive while subscribed) and a receiver; joining a running
    /// poller always works, starting one more than `max` does not.
    pub fn join(
        &self,
        sources: &Sources,
        subjects: Vec<SubjectRef>,
        credentials: CallerCredentials,
    ) -> Result<(Arc<Poller>, broadcast::Receiver<Arc<HistoryEntry>>), TooManyPollers> {
        let mut key: Vec<String> = subjects.iter().map(SubjectRef::canonical).collect();
        key.push(credentials.identities());
        let key = key.join("\u{1f}");
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|_, poller| poller.strong_count() > 0);
        if let Some(poller) = running.get(&key).and_then(Weak::upgrade) {
            let receiver = poller.subscribe();
            return Ok((poller, receiver));
        }
        if running.len() >= self.max {
            return Err(TooManyPollers { max: self.max });
        }
        let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
        let interval = subjects
            .iter()
            .map(|s| sources.poll_interval(s.source()))
            .min()
            .unwrap_or(Duration::from_secs(15));
        let task = tokio::spawn(poll(
            sources.clone(),
            subjects,
            credentials,
            interval,
            sender.clone(),
        ));
        let poller = Arc::new(Poller { sender, task });
        running.insert(key, Arc::downgrade(&poller));
        Ok((poller, receiver))
    }

    /// Number of pollers running (for tests and metrics).
    pub fn running(&self) -> usize {
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.values().filter(|p| p.strong_count() > 0).count()
    }
}

async fn poll(
    sources: Sources,
    subjects: Vec<SubjectRef>,
    credentials: CallerCredentials,
    interval: Duration,
    sender: broadcast::Sender<Arc<HistoryEntry>>,
) {
    let started = Utc::now();
    let mut marks = match start_marks(&subjects, Some(&started.to_rfc3339()), started) {
        Ok(marks) => marks,
        Err(_) => return,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let scope = RequestScope::for_caller(None, credentials.clone());
        let read = read_changes(&sources, &scope, &subjects, marks.clone(), Utc::now()).await;
        for (_, err) in &read.failures {
            tracing::warn!(source = ?err.source, code = err.code.as_str(), "subscription poll failed; will retry");
        }
        marks = read.next.marks;
        for entry in read.entries.into_iter().rev() {
            // No receivers left means the poller is about to be dropped; nothing to do.
            let _ = sender.send(Arc::new(entry));
        }
    }
}
