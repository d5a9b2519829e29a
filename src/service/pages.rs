//! Bigdata's `page`/`page_size` on keyset pagination.
//!
//! A document list remembers, per viewer and query, the last row of each
//! page it served. The next page then starts just after that row (an index
//! seek: the cost of one page) instead of skipping every row before it (the
//! cost of its depth), and documents added or removed in between neither
//! repeat a row on it nor skip one. A page with no remembered start is
//! found by offset from the nearest remembered one before it, reading its
//! predecessor row as well, so that page is remembered too.
//!
//! Positions are hints of this process, never data: a replica without
//! them pages by offset, and the position of a row deleted since still
//! marks a place in the order. Bounded: the lists first seen longest ago
//! are forgotten first.

use crate::domain::{Document, Principal};
use crate::store::{DocumentQuery, Position};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Lists remembered at most, and pages per list.
const MOST_LISTS: usize = 1024;
const MOST_PAGES: usize = 32;

#[derive(Default)]
pub struct PagePositions {
    lists: Mutex<Lists>,
}

#[derive(Default)]
struct Lists {
    /// Per list, by offset: the row just before the page that starts there.
    starts: HashMap<ListKey, BTreeMap<u64, Position>>,
    /// First seen first.
    seen: VecDeque<ListKey>,
}

/// One viewer's list: the query without its page.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ListKey {
    user_id: String,
    org_id: String,
    query: DocumentQuery,
}

impl ListKey {
    fn new(viewer: &Principal, query: &DocumentQuery) -> Self {
        Self {
            user_id: viewer.user_id.clone(),
            org_id: viewer.org_id.clone(),
            query: DocumentQuery {
                after: None,
                offset: 0,
                limit: 0,
                ..query.clone()
            },
        }
    }
}

/// How one page is read.
pub struct Plan {
    pub query: DocumentQuery,
    /// Rows read before the page (its predecessor, to remember).
    lead: usize,
    /// The list whose positions it learns; `None` in an order without them.
    list: Option<ListKey>,
}

/// Whether `query`'s pages have remembered starts: in an order with
/// positions, and not already starting after a row.
fn has_positions(query: &DocumentQuery) -> bool {
    query.sort_by.has_positions() && query.after.is_none()
}

/// Whether `query`'s page is read from where the page before it ended
/// (see `plan`): a page after the first, in an order with positions.
pub fn continues_a_walk(query: &DocumentQuery) -> bool {
    has_positions(query) && query.offset > 0
}

impl PagePositions {
    /// The store query for `query`'s page.
    pub fn plan(&self, viewer: &Principal, query: &DocumentQuery) -> Plan {
        if !has_positions(query) {
            return Plan {
                query: query.clone(),
                lead: 0,
                list: None,
            };
        }
        let list = ListKey::new(viewer, query);
        if query.offset == 0 {
            return Plan {
                query: query.clone(),
                lead: 0,
                list: Some(list),
            };
        }
        let lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let nearest = lists
            .starts
            .get(&list)
            .and_then(|starts| starts.range(..=query.offset).next_back());
        let (query, lead) = match nearest {
            Some((&start, position)) if start == query.offset => (
                DocumentQuery {
                    after: Some(position.clone()),
                    offset: 0,
                    ..query.clone()
                },
                0,
            ),
            nearest => (
                DocumentQuery {
                    after: nearest.map(|(_, position)| position.clone()),
                    offset: query.offset - nearest.map_or(0, |(&start, _)| start) - 1,
                    limit: query.limit + 1,
                    ..query.clone()
                },
                1,
            ),
        };
        drop(lists);
        Plan {
            query,
            lead,
            list: Some(list),
        }
    }

    /// Remembers where the page `query` asked for (read by `plan`) and the
    /// one after it start, and returns the page's rows.
    pub fn learn(
        &self,
        query: &DocumentQuery,
        plan: Plan,
        mut rows: Vec<Document>,
    ) -> Vec<Document> {
        let Some(list) = plan.list else {
            return rows;
        };
        let lead = plan.lead.min(rows.len());
        let shown = query.limit.saturating_sub(1) as usize;
        let at = |i: usize| Position::of(&rows[i], query.sort_by);
        let mut learnt = Vec::with_capacity(2);
        if lead == 1 {
            learnt.extend(at(0).map(|p| (query.offset, p)));
        }
        let end = query.offset + shown as u64;
        if shown > 0 && rows.len() - lead > shown {
            learnt.extend(at(lead + shown - 1).map(|p| (end, p)));
        }
        self.remember(list, learnt, end);
        rows.drain(..lead);
        rows
    }

    /// What reading `query`'s first page again, unchanged, does: the
    /// starts after it are forgotten as `learn` forgets them, and the one
    /// it learnt is still right. Any other page is never answered again.
    pub fn revisit(&self, viewer: &Principal, query: &DocumentQuery) {
        if has_positions(query) && query.offset == 0 {
            let end = query.offset + query.limit.saturating_sub(1) as u64;
            self.remember(ListKey::new(viewer, query), Vec::new(), end);
        }
    }

    /// Records `learnt` and forgets the starts after `end`: they were
    /// learnt by an earlier walk, whose pages may no longer follow this one.
    fn remember(&self, key: ListKey, learnt: Vec<(u64, Position)>, end: u64) {
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let lists = &mut *lists;
        if let Some(starts) = lists.starts.get_mut(&key) {
            starts.split_off(&(end + 1));
        } else if learnt.is_empty() {
            return;
        } else {
            if lists.seen.len() >= MOST_LISTS {
                if let Some(oldest) = lists.seen.pop_front() {
                    lists.starts.remove(&oldest);
                }
            }
            lists.seen.push_back(key.clone());
        }
        let starts = lists.starts.entry(key).or_default();
        starts.extend(learnt);
        // Walks go forward: the first pages are the cheapest to find again.
        while starts.len() > MOST_PAGES {
            starts.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::document_fixture;
    use crate::domain::{DocumentId, Timestamp};
    use crate::store::SortKey;

    fn viewer(user: &str) -> Principal {
        Principal {
            user_id: user.into(),
            org_id: "org".into(),
            key_id: "key".into(),
        }
    }

    /// Documents created at these µs, in the order given.
    fn rows(created: impl Iterator<Item = i64>) -> Vec<Document> {
        created
            .map(|t| Document {
                id: DocumentId::parse(&format!("{t:032X}")).unwrap(),
                ..document_fixture(Timestamp::from_micros(t))
            })
            .collect()
    }

    /// Reads the pages at `offsets` of a list 11, 10, … 1 (each page the same).
    fn walk(pages: &PagePositions, viewer: &Principal, offsets: impl IntoIterator<Item = u64>) {
        for offset in offsets {
            let plan = pages.plan(viewer, &page(offset));
            pages.learn(&page(offset), plan, rows((1..=11).rev()));
        }
    }

    fn page(offset: u64) -> DocumentQuery {
        DocumentQuery {
            offset,
            ..DocumentQuery::newest(11)
        }
    }

    #[test]
    fn a_page_starts_after_the_last_row_of_the_page_before_it() {
        let pages = PagePositions::default();
        let alice = viewer("alice");
        let first = pages.plan(&alice, &page(0));
        assert_eq!(first.query, page(0));
        // Ten shown (100..=91), the eleventh tells another page follows.
        let shown = pages.learn(&page(0), first, rows((90..=100).rev()));
        assert_eq!(shown.len(), 11);

        let second = pages.plan(&alice, &page(10));
        assert_eq!(second.query.offset, 0);
        assert_eq!(second.query.limit, 11);
        let after = second.query.after.clone().unwrap();
        assert_eq!(after.key, SortKey::Time(91));
        // Another viewer, or another order, has no such position.
        assert_eq!(pages.plan(&viewer("bob"), &page(10)).query.after, None);
        let ascending = DocumentQuery {
            descending: false,
            ..page(10)
        };
        assert_eq!(pages.plan(&alice, &ascending).query.after, None);
    }

    #[test]
    fn a_page_found_by_offset_reads_its_predecessor_and_is_remembered() {
        let pages = PagePositions::default();
        let alice = viewer("alice");
        let plan = pages.plan(&alice, &page(30));
        assert_eq!((plan.query.offset, plan.query.limit), (29, 12));
        assert_eq!(plan.query.after, None);
        // Rows at offsets 29..=40 of a list 100, 99, …
        let shown = pages.learn(&page(30), plan, rows((60..=71).rev()));
        assert_eq!(shown.first().unwrap().created_at.as_micros(), 70);
        assert_eq!(shown.len(), 11);

        let again = pages.plan(&alice, &page(30)).query;
        assert_eq!(
            (again.offset, again.after.unwrap().key),
            (0, SortKey::Time(71))
        );
        let next = pages.plan(&alice, &page(40)).query;
        assert_eq!(
            (next.offset, next.after.unwrap().key),
            (0, SortKey::Time(61))
        );
        // Further on, by offset from the nearest remembered start.
        let later = pages.plan(&alice, &page(60)).query;
        assert_eq!((later.offset, later.limit), (19, 12));
        assert_eq!(later.after.unwrap().key, SortKey::Time(61));
    }

    #[test]
    fn reading_a_page_forgets_the_starts_an_earlier_walk_learnt_after_it() {
        let pages = PagePositions::default();
        let alice = viewer("alice");
        walk(&pages, &alice, [0, 10, 20]);
        assert!(pages.plan(&alice, &page(30)).query.after.is_some());
        let plan = pages.plan(&alice, &page(0));
        pages.learn(&page(0), plan, rows((50..=60).rev()));
        let jump = pages.plan(&alice, &page(30)).query;
        assert_eq!(
            (jump.offset, jump.after.unwrap().key),
            (19, SortKey::Time(51))
        );
    }

    /// A first page answered again from a kept answer (nothing changed
    /// since it was read) leaves the positions as reading it would.
    #[test]
    fn revisiting_the_first_page_forgets_what_reading_it_forgets() {
        let pages = PagePositions::default();
        let alice = viewer("alice");
        walk(&pages, &alice, [0, 10, 20]);
        assert!(!continues_a_walk(&page(0)));
        assert!(continues_a_walk(&page(10)));
        pages.revisit(&alice, &page(0));
        let second = pages.plan(&alice, &page(10)).query;
        assert_eq!(second.after.unwrap().key, SortKey::Time(2), "kept");
        let third = pages.plan(&alice, &page(20)).query;
        assert_eq!((third.offset, third.limit), (9, 12), "forgotten: by offset");
    }

    #[test]
    fn the_last_page_and_sorts_by_a_column_that_can_be_empty_remember_nothing() {
        let pages = PagePositions::default();
        let alice = viewer("alice");
        let plan = pages.plan(&alice, &page(0));
        pages.learn(&page(0), plan, rows((1..=4).rev()));
        assert_eq!(pages.plan(&alice, &page(10)).query.after, None);

        let by_size = DocumentQuery {
            sort_by: crate::store::DocumentSort::RawSize,
            ..page(10)
        };
        let plan = pages.plan(&alice, &by_size);
        assert_eq!(plan.query, by_size);
        pages.learn(&by_size, plan, rows((1..=11).rev()));
        assert_eq!(pages.plan(&alice, &by_size).query, by_size);
    }

    #[test]
    fn lists_are_forgotten_first_seen_first_and_pages_first_page_first() {
        let pages = PagePositions::default();
        for n in 0..=MOST_LISTS {
            let user = viewer(&format!("user{n}"));
            let plan = pages.plan(&user, &page(0));
            pages.learn(&page(0), plan, rows((1..=11).rev()));
        }
        assert_eq!(pages.plan(&viewer("user0"), &page(10)).query.after, None);
        assert!(pages
            .plan(&viewer("user1"), &page(10))
            .query
            .after
            .is_some());

        let alice = viewer("alice");
        for n in 0..=MOST_PAGES as u64 {
            let query = page(n * 10);
            let plan = pages.plan(&alice, &query);
            pages.learn(&query, plan, rows((1..=12).rev()));
        }
        let lists = pages.lists.lock().unwrap();
        let starts = &lists.starts[&ListKey::new(&alice, &page(0))];
        assert_eq!(starts.len(), MOST_PAGES);
        assert!(!starts.contains_key(&10));
    }
}
