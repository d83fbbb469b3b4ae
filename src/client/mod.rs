//! The chat client.
#![allow(unused)]
use crate::wire::Proto;
use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub nick: Option<String>,
    pub max_line: usize,
    pub max_frame: usize,
    pub max_datagram: usize,
    pub json: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            addr: ([127, 0, 0, 1], crate::addr::CHAT_PORT).into(),
            proto: Proto::Tcp,
            nick: None,
            max_line: crate::wire::text::DEFAULT_MAX_LINE,
            max_frame: crate::wire::binary::DEFAULT_MAX_FRAME,
            max_datagram: crate::wire::binary::DEFAULT_MAX_DATAGRAM,
            json: false,
        }
    }
}

pub async fn run_stdio(cfg: ClientConfig) -> anyhow::Result<()> {
    todo!()
}
