//! One way to talk to every kind of peer a test drives: a nettool member in-process, a
//! raw TCP or UDP text peer, a child process (the nettool client, nc, socat, ncat, the
//! lesson's Node.js scripts). A peer sends a line and yields the next line it shows;
//! `expect`, `wait_for` and their bounds and failure messages are written once, here.

use std::time::Duration;
use tokio::time::Instant;

/// Anything a test talks to in lines.
#[allow(async_fn_in_trait)] // test-only: no caller needs the futures to be `Send`
pub trait Peer {
    /// Who this is, in failure messages.
    fn name(&self) -> &str;

    /// The longest one expected line may take.
    fn wait(&self) -> Duration;

    /// Say one line: a text peer writes it, a nettool member sends it as chat, a process
    /// gets it on stdin.
    async fn send_line(&mut self, line: &str);

    /// The next line this peer shows (a nettool member: the next message, as the text
    /// line a person would see; keepalive answers skipped), if one comes before
    /// `deadline`; otherwise why not (timed out, closed).
    async fn next_line(&mut self, deadline: Instant) -> Result<String, String>;

    /// The next line; fails the test if none comes in time.
    async fn line(&mut self) -> String {
        let deadline = Instant::now() + self.wait();
        match self.next_line(deadline).await {
            Ok(l) => l,
            Err(why) => panic!("{}: no line: {why}", self.name()),
        }
    }

    /// The next line must be `want`.
    async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(got, want, "{}", self.name());
    }

    /// Skip lines until `want`.
    async fn wait_for(&mut self, want: &str) {
        self.wait_for_matching(|l| l == want, want).await;
    }

    /// Skip lines until one for which `pred` holds (described by `what`); returns it.
    async fn wait_for_matching(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + self.wait();
        let mut seen = Vec::new();
        loop {
            match self.next_line(deadline).await {
                Ok(l) if pred(&l) => return l,
                Ok(l) => seen.push(l),
                Err(why) => panic!("{}: no {what:?} ({why}); seen {seen:#?}", self.name()),
            }
        }
    }
}

/// A UDP text peer proves its address as a person does: says something, reads the
/// challenge line, types the `/ok CODE` it shows. The welcome that follows is left for
/// the caller to read.
pub async fn prove_udp(peer: &mut impl Peer) {
    peer.send_line("hello?").await;
    let challenge = peer.line().await;
    peer.send_line(&format!("/ok {}", challenge_code(&challenge)))
        .await;
}

/// The code in a UDP challenge line (`* ...: /ok CODE`).
pub fn challenge_code(line: &str) -> String {
    assert!(line.starts_with("* "), "a challenge line: {line:?}");
    match line.rsplit_once("/ok ") {
        Some((_, code)) => code.trim().to_string(),
        None => panic!("no /ok CODE in {line:?}"),
    }
}
