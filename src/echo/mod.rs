//! RFC 862 echo server and ping-like client (stub: to be written).
#![allow(unused)]
use crate::wire::Proto;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub max_datagram: usize,
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
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        todo!()
    }
}
pub struct PingConfig {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub count: u64,
    pub size: usize,
    pub interval: Duration,
    pub timeout: Duration,
}
pub struct PingReply;
impl std::fmt::Display for PingReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
#[derive(serde::Serialize)]
pub struct PingSummary;
impl std::fmt::Display for PingSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
pub async fn ping(
    cfg: &PingConfig,
    on_reply: impl FnMut(&PingReply),
) -> anyhow::Result<PingSummary> {
    todo!()
}
