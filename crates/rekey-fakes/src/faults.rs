//! Faults a test arms on a fake: the next N requests whose method and path match get a given
//! status instead of an answer (a 5xx, a 429), or take effect and lose their answer (the
//! connection closes without one: the client cannot know whether the write happened).

use std::sync::{Arc, Mutex};

/// What an armed fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status without handling the request.
    Status(u16),
    /// Handle the request, then close the connection without answering.
    Lost,
}

/// One armed fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Only requests of this method (`None`: any).
    pub method: Option<http::Method>,
    /// Only paths containing this.
    pub path_contains: String,
    /// What happens.
    pub kind: FaultKind,
    /// How many requests it applies to.
    pub times: u32,
}

/// The armed faults of one fake.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<Fault>>>);

impl Faults {
    /// Arms a fault.
    pub fn arm(&self, f: Fault) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(f);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// The fault a request meets, if any (and counts it).
    pub(crate) fn take(&self, method: &http::Method, path: &str) -> Option<FaultKind> {
        let mut list = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = list.iter().position(|f| {
            f.times > 0 && f.method.as_ref().is_none_or(|m| m == method) && path.contains(&f.path_contains)
        })?;
        list[i].times -= 1;
        let kind = list[i].kind;
        if list[i].times == 0 {
            list.remove(i);
        }
        Some(kind)
    }
}
