//! The room's members in join order, for `/who` pages: a `BTreeMap` from a join counter
//! to the member, so a page is a walk from the start and a leave is one removal.

use crate::transport::PeerId;
use std::collections::{BTreeMap, HashMap};

/// Members in the order they joined.
#[derive(Debug, Default)]
pub(super) struct Roster {
    next: u64,
    order: BTreeMap<u64, PeerId>,
    slot: HashMap<PeerId, u64>,
}

impl Roster {
    /// Add `peer` as the newest member (a second insert is ignored).
    pub(super) fn insert(&mut self, peer: PeerId) {
        if self.slot.contains_key(&peer) {
            return;
        }
        self.next += 1;
        self.order.insert(self.next, peer);
        self.slot.insert(peer, self.next);
    }

    pub(super) fn remove(&mut self, peer: PeerId) {
        if let Some(k) = self.slot.remove(&peer) {
            self.order.remove(&k);
        }
    }

    /// Members now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Page `page` (from 1) of `size` members, oldest first.
    pub(super) fn page(&self, page: usize, size: usize) -> impl Iterator<Item = PeerId> + '_ {
        let skip = page.saturating_sub(1).saturating_mul(size);
        self.order.values().copied().skip(skip).take(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_in_join_order_and_skip_the_departed() {
        let mut r = Roster::default();
        let ids: Vec<PeerId> = (0..5).map(|_| PeerId::next()).collect();
        for id in &ids {
            r.insert(*id);
        }
        r.insert(ids[0]);
        r.remove(ids[1]);
        assert_eq!(r.len(), 4);
        assert_eq!(r.page(1, 2).collect::<Vec<_>>(), vec![ids[0], ids[2]]);
        assert_eq!(r.page(2, 2).collect::<Vec<_>>(), vec![ids[3], ids[4]]);
        assert_eq!(r.page(3, 2).count(), 0);
    }
}
