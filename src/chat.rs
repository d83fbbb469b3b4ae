//! Serving a chat room on TCP, UDP or both.
#![allow(unused)]
use crate::room::{RoomConfig, RoomStats};
use crate::wire::Proto;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub room: RoomConfig,
    pub tcp: crate::tcp::TcpConfig,
    pub udp: crate::udp::UdpConfig,
}

pub struct Server;

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        protos: &[Proto],
        cfg: ServerConfig,
    ) -> std::io::Result<Server> {
        todo!()
    }
    pub fn local_addr(&self) -> SocketAddr {
        todo!()
    }
    pub fn protos_label(&self) -> String {
        todo!()
    }
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<RoomStats> {
        todo!()
    }
}
