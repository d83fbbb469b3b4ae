//! An in-memory transport: peers are channels, not sockets. It speaks the same
//! [`Event`]s and [`PeerSink`]s as TCP and UDP, so the room and the chat server can be
//! tested (and benchmarked) without the network: `Joined` when a [`MemoryPeer`] joins,
//! `Message` for what it sends, `Left` when it leaves or is dropped.
//!
//! Each peer's outbound queue is bounded like a TCP member's: when it is full the room
//! is told [`SendError::Full`] and applies its slow-member policy. Peers are labelled
//! with the protocol the transport is told to imitate, so per-protocol display
//! (`/who`, join notices) can be checked too.

use super::{Close, Event, EventTx, Format, PeerId, PeerInfo, PeerSink, SendError, Transport};
use crate::wire::{ClientMsg, LeaveReason, Outgoing, Proto, ServerMsg};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a connector asks the serving transport to tell the room.
enum Command {
    Join {
        peer: PeerId,
        nick: Option<String>,
        inbox: mpsc::Sender<Arc<Outgoing>>,
    },
    Send(PeerId, ClientMsg),
    Leave(PeerId, LeaveReason),
}

/// The transport half: hand it to a server (through [`super::AnyTransport`]) or serve
/// it into a room's event channel directly.
pub struct MemoryTransport {
    proto: Proto,
    commands: mpsc::UnboundedReceiver<Command>,
}

/// The connecting half: makes peers. Cheap to clone.
#[derive(Clone)]
pub struct MemoryConnector {
    commands: mpsc::UnboundedSender<Command>,
    queue: usize,
}

/// A transport imitating `proto`, each peer with an outbound queue of `queue` messages.
pub fn pair(proto: Proto, queue: usize) -> (MemoryTransport, MemoryConnector) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        MemoryTransport {
            proto,
            commands: rx,
        },
        MemoryConnector {
            commands: tx,
            queue: queue.max(1),
        },
    )
}

impl MemoryConnector {
    /// Join the room, asking for `nick`. The room's answer (`Welcome`, or a refusal)
    /// arrives through [`MemoryPeer::recv`].
    pub fn join(&self, nick: Option<&str>) -> MemoryPeer {
        let peer = PeerId::next();
        let (inbox_tx, inbox) = mpsc::channel(self.queue);
        let _ = self.commands.send(Command::Join {
            peer,
            nick: nick.map(str::to_owned),
            inbox: inbox_tx,
        });
        MemoryPeer {
            peer,
            commands: self.commands.clone(),
            inbox,
            seq: 0,
        }
    }
}

/// One member of the room, in memory.
pub struct MemoryPeer {
    peer: PeerId,
    commands: mpsc::UnboundedSender<Command>,
    inbox: mpsc::Receiver<Arc<Outgoing>>,
    seq: u64,
}

impl MemoryPeer {
    /// Its id in the room.
    pub fn id(&self) -> PeerId {
        self.peer
    }

    /// Send any client message.
    pub fn send(&self, msg: ClientMsg) {
        let _ = self.commands.send(Command::Send(self.peer, msg));
    }

    /// Say a chat line, numbered as a nettool client numbers them.
    pub fn say(&mut self, text: &str) {
        self.seq += 1;
        self.send(ClientMsg::Say {
            seq: self.seq,
            sent_us: crate::wire::now_us(),
            text: text.to_owned(),
        });
    }

    /// Leave, for `reason`.
    pub fn leave(&self, reason: LeaveReason) {
        let _ = self.commands.send(Command::Leave(self.peer, reason));
    }

    /// The next message the room sent; `None` once the room closed this peer and
    /// everything queued before has been read.
    pub async fn recv(&mut self) -> Option<ServerMsg> {
        self.inbox.recv().await.map(|m| m.msg().clone())
    }

    /// A message already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<ServerMsg> {
        self.inbox.try_recv().ok().map(|m| m.msg().clone())
    }
}

/// The room's handle on a memory peer: a bounded queue it can close.
struct MemorySink {
    inbox: Mutex<Option<mpsc::Sender<Arc<Outgoing>>>>,
}

impl PeerSink for MemorySink {
    fn send(&self, msg: &Arc<Outgoing>) -> Result<(), SendError> {
        let guard = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(SendError::Closed);
        };
        tx.try_send(msg.clone()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    fn close(&self, _how: Close) {
        // Dropping the sender ends the peer's inbox once it has read what is queued.
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Transport for MemoryTransport {
    fn proto(&self) -> Proto {
        self.proto
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    async fn serve(mut self, events: EventTx, shutdown: CancellationToken) -> std::io::Result<()> {
        let mut joined = 0u16;
        loop {
            let cmd = tokio::select! {
                _ = shutdown.cancelled() => break,
                c = self.commands.recv() => match c {
                    Some(c) => c,
                    None => break,
                },
            };
            let event = match cmd {
                Command::Join { peer, nick, inbox } => {
                    joined = joined.wrapping_add(1);
                    Event::Joined {
                        peer,
                        info: PeerInfo {
                            proto: self.proto,
                            addr: SocketAddr::from(([127, 0, 0, 1], joined)),
                            format: Format::Binary,
                        },
                        nick,
                        sink: Box::new(MemorySink {
                            inbox: Mutex::new(Some(inbox)),
                        }),
                    }
                }
                Command::Send(peer, msg) => Event::Message(peer, msg),
                Command::Leave(peer, reason) => Event::Left(peer, reason),
            };
            if events.send(event).await.is_err() {
                break; // the room is gone
            }
        }
        Ok(())
    }
}
