//! The load engine: phases drive workers, workers take clients from the rate-limited pool,
//! every request's outcome goes to the collector over a channel.

pub mod churn;
pub mod cleanup;
pub mod create;
pub mod delete;
pub mod missing;
pub mod pool;
pub mod queue;
pub mod request;
pub mod steady;
pub mod tally;
pub mod watch;

use tokio::sync::watch as signal;

/// A stop signal shared by all workers (Ctrl-C, fatal target error). Workers stop
/// scheduling new requests; requests already sent finish (bounded by the client timeout).
#[derive(Clone)]
pub struct Stop {
    rx: signal::Receiver<Option<StopReason>>,
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT / SIGTERM.
    Interrupted,
    /// The target failed (message says how).
    TargetFailed(String),
    /// etcd's quota is full (NOSPACE alarm).
    QuotaFull(String),
}

/// The sending side of [`Stop`] (cheap to clone).
#[derive(Clone)]
pub struct StopHandle {
    tx: std::sync::Arc<signal::Sender<Option<StopReason>>>,
}

/// A new stop signal.
pub fn stop_signal() -> (StopHandle, Stop) {
    let (tx, rx) = signal::channel(None);
    (
        StopHandle {
            tx: std::sync::Arc::new(tx),
        },
        Stop { rx },
    )
}

impl StopHandle {
    /// Signals every worker to stop (the first reason wins).
    pub fn stop(&self, reason: StopReason) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// A receiver for this signal.
    pub fn subscribe(&self) -> Stop {
        Stop {
            rx: self.tx.subscribe(),
        }
    }
}

impl Stop {
    /// The reason, once stopped.
    pub fn reason(&self) -> Option<StopReason> {
        self.rx.borrow().clone()
    }

    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Resolves when stopped.
    pub async fn stopped(&mut self) {
        let _ = self.rx.wait_for(|r| r.is_some()).await;
    }
}
