//! A declared lockout (or rate limit) for the checks that try passwords:
//! AU-01 paces its guesses by it so that it never trips it (a tripped lock
//! would refuse the positive control and leave the guesses unproven), and
//! AU-04 trips it on purpose. Which lockout holds where, how many attempts
//! it has counted, and what relieves the count before it is reached.

use std::collections::BTreeMap;
use std::time::Duration;

use hilt_harness::board::{LockoutDecl, LockoutScope};

/// How long to wait so that a lockout has forgotten every attempt: its
/// counting window, else (the count starts over once a lock passes) its
/// delay; a second more for the clocks of both sides.
pub fn forget_after(lockout: &LockoutDecl) -> Duration {
    let s = lockout.window_s.or(lockout.delay_s).unwrap_or(0);
    Duration::from_secs(u64::from(s) + 1)
}

/// What must happen before the next attempt so that it cannot trip the
/// lockout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relief {
    /// Nothing: the count stays below the threshold.
    None,
    /// Wait this long: the lockout forgets the attempts counted so far.
    Wait(Duration),
    /// Log in with the declared account: the lockout clears its count on
    /// a successful login (`reset_on_success`).
    LogIn,
}

/// The attempts a lockout has counted, as far as hilt knows (its own).
pub struct Pacer {
    lockout: Option<LockoutDecl>,
    counts: BTreeMap<String, u32>,
}

impl Pacer {
    pub fn new(lockout: Option<LockoutDecl>) -> Self {
        Self {
            lockout,
            counts: BTreeMap::new(),
        }
    }

    /// Whether a lockout is declared for what this paces.
    pub fn declared(&self) -> bool {
        self.lockout.is_some()
    }

    fn key(&self, user: &str) -> String {
        match self.lockout.as_ref().map(|l| l.per) {
            Some(LockoutScope::Account) => user.to_string(),
            _ => String::new(),
        }
    }

    /// Before an attempt as `user`: what keeps it from tripping the lock.
    /// `account` is the declared account, whose login may clear the count.
    /// The attempt that would bring a count to the threshold is never
    /// made (a lockout may count it before it weighs it).
    pub fn before(&self, user: &str, account: Option<&str>) -> Relief {
        let Some(lockout) = &self.lockout else {
            return Relief::None;
        };
        let count = self.counts.get(&self.key(user)).copied().unwrap_or(0);
        if count + 1 < lockout.threshold {
            return Relief::None;
        }
        let login_clears = lockout.reset_on_success
            && account.is_some_and(|a| lockout.per == LockoutScope::Source || a == user);
        if login_clears {
            Relief::LogIn
        } else {
            Relief::Wait(forget_after(lockout))
        }
    }

    /// Counts an attempt as `user` that was (or was not) let in.
    pub fn attempted(&mut self, user: &str, let_in: bool) {
        let Some(lockout) = &self.lockout else {
            return;
        };
        let (per, reset) = (lockout.per, lockout.reset_on_success);
        let key = self.key(user);
        if let_in && reset {
            self.counts.remove(&key);
        } else if !let_in || per == LockoutScope::Source {
            *self.counts.entry(key).or_insert(0) += 1;
        }
    }

    /// After a [`Relief::Wait`]: every count is forgotten.
    pub fn waited(&mut self) {
        self.counts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockout(per: LockoutScope, reset: bool) -> LockoutDecl {
        LockoutDecl {
            threshold: 5,
            delay_s: Some(10),
            window_s: Some(20),
            per,
            reset_on_success: reset,
            threshold_parameter: None,
            delay_parameter: None,
        }
    }

    #[test]
    fn per_account_counts_each_account_and_a_login_clears_its_own() {
        let mut p = Pacer::new(Some(lockout(LockoutScope::Account, true)));
        for _ in 0..4 {
            assert_eq!(p.before("admin", Some("admin")), Relief::None);
            p.attempted("admin", false);
            p.attempted("root", false);
        }
        // A fifth failure would lock admin: its login clears the count.
        assert_eq!(p.before("admin", Some("admin")), Relief::LogIn);
        p.attempted("admin", true);
        assert_eq!(p.before("admin", Some("admin")), Relief::None);
        // root's count is not admin's to clear: wait the window out.
        assert_eq!(
            p.before("root", Some("admin")),
            Relief::Wait(Duration::from_secs(21))
        );
        p.waited();
        assert_eq!(p.before("root", Some("admin")), Relief::None);
    }

    #[test]
    fn per_source_counts_every_attempt_even_a_login() {
        let mut p = Pacer::new(Some(lockout(LockoutScope::Source, false)));
        p.attempted("admin", true);
        p.attempted("root", false);
        p.attempted("user", false);
        p.attempted("admin", true);
        assert_eq!(
            p.before("support", Some("admin")),
            Relief::Wait(Duration::from_secs(21))
        );
    }

    #[test]
    fn without_a_window_the_lock_time_is_waited() {
        let mut l = lockout(LockoutScope::Source, false);
        l.window_s = None;
        assert_eq!(forget_after(&l), Duration::from_secs(11));
    }

    #[test]
    fn nothing_declared_never_paces() {
        let mut p = Pacer::new(None);
        for _ in 0..100 {
            p.attempted("admin", false);
        }
        assert_eq!(p.before("admin", Some("admin")), Relief::None);
    }
}
