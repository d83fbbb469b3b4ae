//! Tests written once and run per protocol. Beside `async fn NAME(proto: Proto)`:
//!
//! - `per_proto!(NAME);` adds a module `NAME` with one `#[tokio::test]` per protocol
//!   (`NAME::tcp`, `NAME::udp`) that runs it;
//! - `per_proto!(NAME: tcp, udp);` only for the protocols listed (a test of tools that
//!   speak only those);
//! - `per_proto!(#[ATTR]… NAME …);` gives the tests those attributes instead of
//!   `#[tokio::test]` (another runtime flavour, `#[ignore]`).
//!
//! A new protocol is one `@case` arm and one word in the `@all` list below (and one in
//! the match at the end, which fails to compile until it is there); every test written
//! with `per_proto!(NAME)` then runs over it.

use nettool::wire::Proto;

/// See the [module docs](self).
macro_rules! per_proto {
    (@case [$($attr:tt)*] $name:ident tcp) => {
        $($attr)*
        async fn tcp() {
            super::$name(nettool::wire::Proto::Tcp).await
        }
    };
    (@case [$($attr:tt)*] $name:ident udp) => {
        $($attr)*
        async fn udp() {
            super::$name(nettool::wire::Proto::Udp).await
        }
    };
    (@case [$($attr:tt)*] $name:ident quic) => {
        $($attr)*
        async fn quic() {
            super::$name(nettool::wire::Proto::Quic).await
        }
    };
    (@case [$($attr:tt)*] $name:ident tls) => {
        $($attr)*
        async fn tls() {
            super::$name(nettool::wire::Proto::Tls).await
        }
    };
    (@mod $attrs:tt $name:ident [$($p:ident)+]) => {
        mod $name {
            $($crate::harness::per_proto!(@case $attrs $name $p);)+
        }
    };
    // Every protocol.
    (@all [$($attr:tt)*] $name:ident) => {
        $crate::harness::per_proto!(@mod [$($attr)*] $name [tcp udp]);
    };
    ($(#[$attr:meta])+ $name:ident: $($p:ident),+) => {
        $crate::harness::per_proto!(@mod [$(#[$attr])+] $name [$($p)+]);
    };
    ($name:ident: $($p:ident),+) => {
        $crate::harness::per_proto!(@mod [#[tokio::test]] $name [$($p)+]);
    };
    ($(#[$attr:meta])+ $name:ident) => {
        $crate::harness::per_proto!(@all [$(#[$attr])+] $name);
    };
    ($name:ident) => {
        $crate::harness::per_proto!(@all [#[tokio::test]] $name);
    };
}
pub(crate) use per_proto;

/// Every protocol has its case in [`per_proto!`]: adding one to `Proto` breaks this
/// match until it is added there too.
const _: fn(Proto) = |p| match p {
    Proto::Tcp | Proto::Udp | Proto::Quic | Proto::Tls => {}
};
