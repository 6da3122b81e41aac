//! Command-line conventions shared by every command: shell completions, the man page, `-v`
//! logging, the pager choice, and the examples shown by `kith COMMAND --help`.
//!
//! Invariant: completions and the man page are generated from the same clap tree that parses
//! the command line, so they cannot drift from it.

use std::io::IsTerminal;

use clap::CommandFactory;

use super::output::io_err;
use super::{Cli, Command, Out};
use crate::app::AppError;
use crate::config::Config;

/// `kith completions SHELL`.
pub fn completions(shell: clap_complete::Shell, out: &mut Out) -> Result<(), AppError> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kith", &mut buf);
    out.raw(buf).map_err(io_err)
}

/// `kith man`: the kith(1) page in roff.
pub fn man(out: &mut Out) -> Result<(), AppError> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .title("KITH")
        .render(&mut buf)
        .map_err(io_err)?;
    out.raw(buf).map_err(io_err)
}

/// The log filter for `-v` counts: kith's own crates at that level, other crates at warn.
fn level_filter(verbose: u8) -> Option<String> {
    let level = match verbose {
        0 => return None,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    Some(format!(
        "warn,kith={level},kith_core={level},kith_store={level}"
    ))
}

/// Starts logging to stderr. Silent unless `-v` (highest precedence), `KITH_LOG` (a
/// tracing filter, e.g. `debug` or `kith::net=trace`) or the config file's `log` asks for it.
pub fn init_logging(verbose: u8, cfg: &Config) -> Result<(), AppError> {
    let (filter, source) = match level_filter(verbose) {
        Some(f) => (f, "-v"),
        None => match std::env::var("KITH_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(f) => (f, "KITH_LOG"),
            None => match cfg.log.clone().filter(|v| !v.trim().is_empty()) {
                Some(f) => (f, "config.toml log"),
                None => return Ok(()),
            },
        },
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
        AppError::hint(
            format!("{source}: '{filter}' is not a log filter: {e}"),
            "use a level (error, warn, info, debug, trace) or TARGET=LEVEL pairs, e.g. kith=debug",
        )
    })?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}

/// Whether a command's output can be long enough to page.
pub fn pages(c: &Command) -> bool {
    matches!(
        c,
        Command::List(_)
            | Command::Search(_)
            | Command::Timeline(_)
            | Command::Show(_)
            | Command::Export(_)
    )
}

/// The pager command, or None for none: never when stdout is not a terminal or with
/// `--no-pager`; else `KITH_PAGER`, the config file's `pager`, `PAGER`, then `less -FRX`. An
/// empty value at any of those levels turns paging off.
pub fn pager(no_pager: bool, cfg: &Config) -> Option<String> {
    if no_pager || !std::io::stdout().is_terminal() {
        return None;
    }
    let cmd = std::env::var("KITH_PAGER")
        .ok()
        .or_else(|| cfg.pager.clone())
        .or_else(|| std::env::var("PAGER").ok())
        .unwrap_or_else(|| "less -FRX".to_string());
    (!cmd.trim().is_empty()).then_some(cmd)
}

pub const EX_ADD: &str = "Examples:
  $ kith add \"Ada Lovelace\" --email ada@example.com --org \"Analytical Engines\" -t friend
  $ kith add \"Grace Hopper\" --phone \"+1 555 0100\" --every 3m --met \"at PyCon 2024\"";

pub const EX_SHOW: &str = "Examples:
  $ kith show ada
  $ kith show ada@example.com --json";

pub const EX_LIST: &str = "Examples:
  $ kith list
  $ kith list -t friend --sort last-contact
  $ kith list --org Acme --json";

pub const EX_EDIT: &str = "Examples:
  $ kith edit ada
  $ EDITOR=nano kith edit 3f2a";

pub const EX_SET: &str = "Examples:
  $ kith set ada title \"Chief Engineer\"
  $ kith set ada birthday 1815-12-10
  $ kith set ada every 2w";

pub const EX_NOTE: &str = "Examples:
  $ kith note ada \"Loves mathematics and poetry\"
  $ kith note --about ada --about grace \"Met both at the conference dinner\" -t conference
  $ echo \"Long note from a file\" | kith note ada -";

pub const EX_LOG: &str = "Examples:
  $ kith log ada \"Coffee at the corner place\" -k coffee
  $ kith log ada grace \"Project kickoff\" -k meeting --on 2026-01-15";

pub const EX_REMIND: &str = "Examples:
  $ kith remind ada \"Send the paper\" --in 3d
  $ kith remind grace \"Birthday card\" --on 2026-12-09";

pub const EX_DUE: &str = "Examples:
  $ kith due
  $ kith due --within 30d --json";

pub const EX_DONE: &str = "Examples:
  $ kith done 7c1e
  $ kith done 7c1e --snooze 1w";

pub const EX_SEARCH: &str = "Examples:
  $ kith search lovelace
  $ kith search analytical engine -n 5 --json";

pub const EX_IMPORT: &str = "Examples:
  $ kith import contacts.vcf --dry-run
  $ kith import google.csv linkedin.csv --skip-invalid";

pub const EX_EXPORT: &str = "Examples:
  $ kith export --format vcard -o contacts.vcf
  $ kith export --format json > vault.json
  $ kith export --format markdown -o notes/ -t friend";

pub const EX_SYNC: &str = "Examples:
  $ kith sync
  $ kith sync --timeout 30 --relay off";

pub const EX_INVITE: &str = "Examples:
  $ kith device invite --name laptop
  (then run `kith device join TICKET` on the other device)";

pub const EX_JOIN: &str = "Examples:
  $ kith device join kith1abcdef... --name phone";

pub const EX_COMPLETIONS: &str = "Examples:
  $ kith completions bash > ~/.local/share/bash-completion/completions/kith
  $ kith completions zsh > ~/.zfunc/_kith
  $ kith completions fish > ~/.config/fish/completions/kith.fish";

pub const EX_MAN: &str = "Examples:
  $ kith man > ~/.local/share/man/man1/kith.1
  $ kith man | man -l -";

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::super::Cli;

    /// Every `$ kith ...` example line of every command's long help, as its words.
    fn examples() -> Vec<(String, String)> {
        let mut found = Vec::new();
        fn walk(c: &clap::Command, path: String, found: &mut Vec<(String, String)>) {
            if let Some(h) = c.get_after_long_help() {
                for line in h.to_string().lines() {
                    if let Some(rest) = line.trim().strip_prefix("$ ") {
                        found.push((path.clone(), rest.to_string()));
                    }
                }
            }
            for s in c.get_subcommands() {
                walk(s, format!("{path} {}", s.get_name()), found);
            }
        }
        walk(&Cli::command(), "kith".into(), &mut found);
        found
    }

    /// Splits a shell line into words: double quotes, env assignments and redirections/pipes
    /// (the part after them is not kith's) handled.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut any = false;
        for ch in line.chars() {
            match ch {
                '"' => {
                    quoted = !quoted;
                    any = true;
                }
                ' ' if !quoted => {
                    if any {
                        out.push(std::mem::take(&mut cur));
                        any = false;
                    }
                }
                c => {
                    cur.push(c);
                    any = true;
                }
            }
        }
        if any {
            out.push(cur);
        }
        let start = out
            .iter()
            .position(|w| w == "kith")
            .expect("a kith command");
        out.drain(..start);
        if let Some(end) = out.iter().position(|w| w == ">" || w == "|") {
            out.truncate(end);
        }
        out
    }

    #[test]
    fn every_main_command_has_examples_that_parse() {
        let ex = examples();
        for cmd in [
            "add",
            "show",
            "list",
            "edit",
            "set",
            "note",
            "log",
            "remind",
            "due",
            "done",
            "search",
            "import",
            "export",
            "sync",
            "device invite",
            "device join",
            "completions",
            "man",
        ] {
            let path = format!("kith {cmd}");
            let mine: Vec<_> = ex.iter().filter(|(p, _)| *p == path).collect();
            assert!(!mine.is_empty(), "no examples for {path}");
            for (_, line) in mine {
                let w = words(line);
                assert_eq!(w[..path.split(' ').count()].join(" "), path, "{line}");
                if let Err(e) = Cli::try_parse_from(&w) {
                    panic!("example '{line}' does not parse: {e}");
                }
            }
        }
    }
}
