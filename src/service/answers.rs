//! Answers to repeated reads, reused while the store has not changed.
//!
//! A read's serialized answer is kept with the store [`Generation`] that the
//! caller's key lookup saw just before the read began. A later request from
//! a caller with the same visibility, for the same path and query, whose
//! own key lookup sees the same generation, gets the kept bytes: nothing
//! was committed in between, by this process or another, so reading again
//! would give the same answer. Every write moves the generation (revoking
//! a key too, and that lookup runs on every request anyway), so nothing
//! kept is ever served stale, and nothing expires by time. Only answers
//! that depend on nothing but the database, the caller's visibility and
//! the request are kept. A store without generations (PostgreSQL) keeps
//! nothing.
//!
//! Bounded by bytes (`[http] kept_answers_bytes`): the answers kept
//! longest ago go first.

use crate::domain::Principal;
use crate::store::Generation;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The largest answer kept, as a share of all kept bytes.
const LARGEST_SHARE: usize = 8;

pub struct Answers {
    kept: Mutex<Kept>,
    /// Bytes kept at most, and the largest answer kept.
    most_bytes: usize,
    largest: usize,
}

#[derive(Default)]
struct Kept {
    by_request: HashMap<String, Answer>,
    /// Kept first, first.
    order: VecDeque<String>,
    bytes: usize,
}

struct Answer {
    generation: Generation,
    body: Bytes,
}

/// One viewer's request: who sees what, and the path with its query.
fn request_key(viewer: &Principal, request: &str) -> String {
    [viewer.org_id.as_str(), viewer.user_id.as_str(), request].join("\n")
}

impl Answers {
    /// Keeping at most `most_bytes` of answers (0: none).
    pub fn new(most_bytes: usize) -> Self {
        Self {
            kept: Mutex::default(),
            most_bytes,
            largest: most_bytes / LARGEST_SHARE,
        }
    }

    /// The answer kept for `viewer`'s `request`, if it was read at
    /// `generation`.
    pub fn get(&self, viewer: &Principal, generation: Generation, request: &str) -> Option<Bytes> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.by_request
            .get(&request_key(viewer, request))
            .filter(|answer| answer.generation == generation)
            .map(|answer| answer.body.clone())
    }

    /// Keeps `body`, read after a lookup saw `generation`, in place of any
    /// older answer to the same request.
    pub fn keep(&self, viewer: &Principal, generation: Generation, request: &str, body: Bytes) {
        let key = request_key(viewer, request);
        // The key is held twice (the map, the order), and counts: a long
        // query string with a short answer must not escape the bound.
        let size = body.len() + 2 * key.len();
        if size > self.largest {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let kept = &mut *kept;
        kept.bytes += size;
        match kept
            .by_request
            .insert(key.clone(), Answer { generation, body })
        {
            Some(old) => kept.bytes -= old.body.len() + 2 * key.len(),
            None => kept.order.push_back(key),
        }
        while kept.bytes > self.most_bytes {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some(old) = kept.by_request.remove(&oldest) {
                kept.bytes -= old.body.len() + 2 * oldest.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(user: &str, org: &str) -> Principal {
        Principal {
            user_id: user.into(),
            org_id: org.into(),
            key_id: "key".into(),
        }
    }

    #[test]
    fn an_answer_is_reused_only_by_its_viewer_at_its_generation() {
        let answers = Answers::new(1 << 20);
        let alice = viewer("alice", "acme");
        answers.keep(
            &alice,
            Generation::nth(1),
            "/a?x=1",
            Bytes::from_static(b"one"),
        );
        assert_eq!(
            answers.get(&alice, Generation::nth(1), "/a?x=1").as_deref(),
            Some(&b"one"[..])
        );
        assert!(answers.get(&alice, Generation::nth(2), "/a?x=1").is_none());
        assert!(answers.get(&alice, Generation::nth(1), "/a?x=2").is_none());
        assert!(answers
            .get(&viewer("bob", "acme"), Generation::nth(1), "/a?x=1")
            .is_none());
        assert!(answers
            .get(&viewer("alice", "other"), Generation::nth(1), "/a?x=1")
            .is_none());
        // A newer read replaces the older one.
        answers.keep(
            &alice,
            Generation::nth(2),
            "/a?x=1",
            Bytes::from_static(b"two"),
        );
        assert!(answers.get(&alice, Generation::nth(1), "/a?x=1").is_none());
        assert_eq!(
            answers.get(&alice, Generation::nth(2), "/a?x=1").as_deref(),
            Some(&b"two"[..])
        );
    }

    #[test]
    fn the_oldest_answers_go_first_past_the_bound() {
        let answers = Answers::new(8 << 20);
        let alice = viewer("alice", "acme");
        let body = Bytes::from(vec![b'x'; answers.largest / 2]);
        let bytes = || answers.kept.lock().unwrap().bytes;
        for n in 0..=2 * LARGEST_SHARE {
            answers.keep(&alice, Generation::nth(1), &format!("/{n}"), body.clone());
            assert!(bytes() <= 8 << 20);
        }
        assert!(answers.get(&alice, Generation::nth(1), "/0").is_none());
        assert!(answers.get(&alice, Generation::nth(1), "/1").is_none());
        let last = format!("/{}", 2 * LARGEST_SHARE);
        assert!(answers.get(&alice, Generation::nth(1), &last).is_some());
        // Replacing an answer does not count it twice.
        let before = bytes();
        answers.keep(&alice, Generation::nth(2), &last, body.clone());
        assert_eq!(bytes(), before);

        let too_large = Bytes::from(vec![b'x'; answers.largest + 1]);
        answers.keep(&alice, Generation::nth(1), "/big", too_large);
        assert!(answers.get(&alice, Generation::nth(1), "/big").is_none());

        // Long requests with short answers count by their length too.
        let long = "q".repeat(64 << 10);
        for n in 0..1000 {
            let request = format!("/{n}?{long}");
            answers.keep(
                &alice,
                Generation::nth(1),
                &request,
                Bytes::from_static(b"{}"),
            );
        }
        assert!(bytes() <= 8 << 20);
        assert!(answers.kept.lock().unwrap().by_request.len() < 100);

        let none = Answers::new(0);
        none.keep(&alice, Generation::nth(1), "/0", Bytes::from_static(b"x"));
        assert!(none.get(&alice, Generation::nth(1), "/0").is_none());
    }
}
