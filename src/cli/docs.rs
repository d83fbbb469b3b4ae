//! What is generated from the command-line definition itself: shell completions
//! (clap_complete) and man pages (clap_mangen), so they never drift from `--help`.

use super::Cli;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args)]
pub struct ManArgs {
    /// A subcommand, for its page (nettool-chat(1), …) instead of nettool(1).
    pub page: Option<String>,
    /// Write every page (nettool.1, nettool-chat.1, …) into this directory instead.
    #[arg(long, conflicts_with = "page")]
    pub dir: Option<PathBuf>,
}

/// The completion script for `shell`, generated from [`Cli`].
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nettool", &mut out);
    out
}

/// `nettool` and each of its subcommands (but `help`), built, as man pages.
fn man_pages() -> Vec<clap_mangen::Man> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let source = format!("nettool {}", env!("CARGO_PKG_VERSION"));
    let subs = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .cloned()
        .collect::<Vec<_>>();
    std::iter::once(cmd)
        .chain(subs)
        .map(|c| clap_mangen::Man::new(c).source(source.clone()))
        .collect()
}

/// The man page (roff) of `nettool`, or of one of its subcommands, generated from [`Cli`].
pub fn man(page: Option<&str>) -> Result<Vec<u8>> {
    let mut pages = man_pages();
    let want = match page {
        None => "nettool.1".to_string(),
        Some(name) => format!("nettool-{name}.1"),
    };
    let Some(i) = pages.iter().position(|m| m.get_filename() == want) else {
        let names: Vec<_> = pages[1..]
            .iter()
            .filter_map(|m| {
                Some(
                    m.get_filename()
                        .strip_prefix("nettool-")?
                        .strip_suffix(".1")?
                        .to_string(),
                )
            })
            .collect();
        bail!("no man page for {want}: try one of {}", names.join(", "))
    };
    let mut out = Vec::new();
    pages.swap_remove(i).render(&mut out)?;
    Ok(out)
}

/// Write every man page (`nettool.1`, `nettool-chat.1`, …) into `dir`.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for page in man_pages() {
        page.generate_to(dir)?;
    }
    Ok(())
}

/// Write generated text to stdout; a reader that stops early (`| head`) is not an error.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let script = String::from_utf8(completions(shell)).unwrap();
            for word in ["chat", "echo", "bench", "max-members", "udp-rate"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
        let page = String::from_utf8(man(None).unwrap()).unwrap();
        assert!(page.contains(".TH nettool 1"), "{page}");
        assert!(page.contains("completions"));
        let page = String::from_utf8(man(Some("chat")).unwrap()).unwrap();
        assert!(page.contains(".TH nettool-chat 1"), "{page}");
        assert!(page.contains("max\\-members"), "{page}");
        assert_eq!(
            man(Some("nope")).unwrap_err().to_string(),
            "no man page for nettool-nope.1: try one of chat, echo, bench, lab, completions, man"
        );
    }
}
