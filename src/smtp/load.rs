//! Who holds the SMTP sessions: at most `max_sessions` in all and
//! `max_sessions_per_ip` per client address, so one client cannot take
//! every session; and whether the server is busy, when idle sessions get
//! a shorter wait.

use crate::config::SmtpConfig;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Load {
    sessions: Arc<Semaphore>,
    max: usize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    command_timeout: Duration,
    busy_idle_timeout: Duration,
}

/// Why a session was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    TooManySessions,
    TooManyFromAddress,
}

/// An admitted session; dropping it frees its places.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    load: Arc<Load>,
    ip: IpAddr,
}

impl Load {
    pub fn new(config: &SmtpConfig) -> Arc<Self> {
        Arc::new(Self {
            sessions: Arc::new(Semaphore::new(config.max_sessions)),
            max: config.max_sessions,
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip: config.max_sessions_per_ip,
            command_timeout: config.command_timeout(),
            busy_idle_timeout: config.busy_idle_timeout(),
        })
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let held = per_ip.entry(ip).or_default();
        if *held >= self.max_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        let permit = self
            .sessions
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::TooManySessions)?;
        *held += 1;
        Ok(Admission {
            _permit: permit,
            load: self.clone(),
            ip,
        })
    }

    /// How long a session that has waited `waited` for a command may go on
    /// waiting now (zero: close it).
    pub fn idle_left(&self, waited: Duration) -> Duration {
        let in_use = self.max - self.sessions.available_permits();
        let limit = if in_use * 2 > self.max {
            self.busy_idle_timeout.min(self.command_timeout)
        } else {
            self.command_timeout
        };
        limit.saturating_sub(waited)
    }

    /// Waits until every session has ended, at most `drain`; false when
    /// some are still open.
    pub async fn drained(&self, drain: Duration) -> bool {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout(drain, self.sessions.acquire_many(all))
            .await
            .is_ok()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut per_ip = self.load.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = per_ip.get_mut(&self.ip) {
            *held -= 1;
            if *held == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(max: usize, per_ip: usize) -> Arc<Load> {
        Load::new(&SmtpConfig {
            max_sessions: max,
            max_sessions_per_ip: per_ip,
            command_timeout: "300s".into(),
            busy_idle_timeout: "30s".into(),
            ..SmtpConfig::default()
        })
    }

    #[test]
    fn one_address_gets_its_share_and_others_still_get_in() {
        let load = load(4, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = load.admit(a).unwrap();
        let _second = load.admit(a).unwrap();
        assert_eq!(load.admit(a).err(), Some(Refusal::TooManyFromAddress));
        let _b1 = load.admit(b).unwrap();
        let _b2 = load.admit(b).unwrap();
        assert_eq!(
            load.admit("192.0.2.3".parse().unwrap()).err(),
            Some(Refusal::TooManySessions)
        );
        drop(first);
        assert!(load.admit(a).is_ok());
    }

    #[test]
    fn idle_sessions_wait_less_once_over_half_are_in_use() {
        let load = load(4, 4);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let waited = Duration::from_secs(40);
        let held: Vec<_> = (0..2).map(|_| load.admit(ip).unwrap()).collect();
        assert_eq!(load.idle_left(waited), Duration::from_secs(260));
        let _third = load.admit(ip).unwrap();
        assert_eq!(load.idle_left(waited), Duration::ZERO);
        assert_eq!(
            load.idle_left(Duration::from_secs(10)),
            Duration::from_secs(20)
        );
        drop(held);
    }
}
