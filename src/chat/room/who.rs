//! What the room tells about its members as a whole: `/who` pages (with each member's
//! protocol, and its server in a room across servers) and a large room's summary of
//! joins and leaves.

use super::{Room, WHO_CHUNK};
use crate::transport::PeerId;
use crate::wire::{MemberInfo, Outgoing, ServerMsg};
use std::sync::Arc;

impl Room {
    /// Broadcast the joins and leaves counted since the last call, if any (a large room
    /// calls this once per [`PRESENCE_EVERY`](super::PRESENCE_EVERY)). Each server of a
    /// cluster sums up what it saw, remote members' comings and goings included.
    pub fn announce_presence(&mut self) {
        if self.joined == 0 && self.left == 0 {
            return;
        }
        let msg = ServerMsg::Presence {
            joined: std::mem::take(&mut self.joined),
            left: std::mem::take(&mut self.left),
            online: self.members.len() as u32,
        };
        self.stats.presence += 1;
        self.broadcast_here(None, &Arc::new(Outgoing::new(msg)));
    }

    /// One page (from 1) of the member list, oldest first, then which page it was.
    pub(super) fn who(&mut self, peer: PeerId, page: u32) {
        let size = self.cfg.who_page.max(1);
        let online = self.members.len();
        let pages = online.div_ceil(size).max(1);
        let page = (page.max(1) as usize).min(pages);
        let here = self.cfg.server.as_deref();
        let list: Vec<MemberInfo> = self
            .roster
            .page(page, size)
            .filter_map(|id| self.members.get(&id))
            .map(|m| MemberInfo {
                nick: m.nick.clone(),
                proto: m.info.proto,
                online_s: m.since.elapsed().as_secs(),
                server: match &m.remote {
                    Some(r) => Some(r.server.to_string()),
                    None => here.map(str::to_string),
                },
            })
            .collect();
        for chunk in list.chunks(WHO_CHUNK) {
            self.reply(peer, ServerMsg::Members(chunk.to_vec()));
        }
        self.reply(
            peer,
            ServerMsg::WhoPage {
                page: page as u32,
                pages: pages as u32,
                online: online as u32,
            },
        );
    }
}
