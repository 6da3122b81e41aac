//! The user's settings file: `config.toml` in the platform's config directory (e.g.
//! `~/.config/kith/config.toml`), or the file named by `KITH_CONFIG`.
//!
//! Precedence, lowest first: built-in defaults, the settings file, `KITH_*` variables, flags.
//! The network keys (`relay`, `mdns`, `bind`) are also still read from `<home>/kith.conf`, the
//! older per-home file; `config.toml` wins over it.
//!
//! Invariant: a missing default file is no error; a file named by `KITH_CONFIG` must exist; a
//! file that does not parse, or names an unknown key, stops the command with its path and line.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::app::AppError;

/// The settings a `config.toml` may hold. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The kith home directory (below `--home` and `KITH_HOME`).
    pub home: Option<PathBuf>,
    /// The pager for long output; `""` turns paging off (below `KITH_PAGER`, above `PAGER`).
    pub pager: Option<String>,
    /// The log filter when neither `-v` nor `KITH_LOG` is given, e.g. `"info"` or `"kith=debug"`.
    pub log: Option<String>,
    /// Relays: `"off"`, `"default"` or the https:// URL of an iroh relay.
    pub relay: Option<String>,
    /// Local network discovery (mDNS).
    pub mdns: Option<bool>,
    /// The address to listen on, `IP:PORT`.
    pub bind: Option<String>,
    /// Opportunity stages beyond the defaults (lead, active, won, lost), e.g.
    /// `["pitched", "negotiating"]` (`kith opp`).
    pub opp_stages: Option<Vec<String>>,
}

static LOADED: OnceLock<Config> = OnceLock::new();

/// The settings file's path: `KITH_CONFIG` when set and not empty, else
/// `<config dir>/kith/config.toml`. The flag says whether it was named explicitly.
pub fn path() -> Option<(PathBuf, bool)> {
    match std::env::var_os("KITH_CONFIG").filter(|v| !v.is_empty()) {
        Some(p) => Some((PathBuf::from(p), true)),
        None => dirs::config_dir().map(|d| (d.join("kith").join("config.toml"), false)),
    }
}

/// Reads and parses the settings file once; later calls return the same settings.
pub fn load() -> Result<&'static Config, AppError> {
    if let Some(c) = LOADED.get() {
        return Ok(c);
    }
    let cfg = read()?;
    Ok(LOADED.get_or_init(|| cfg))
}

/// The settings if [`load`] has run successfully (defaults otherwise).
pub fn current() -> Option<&'static Config> {
    LOADED.get()
}

fn read() -> Result<Config, AppError> {
    let Some((path, named)) = path() else {
        return Ok(Config::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
            return Ok(Config::default())
        }
        Err(e) => {
            return Err(AppError::hint(
                format!("cannot read the settings file {}: {e}", path.display()),
                "fix KITH_CONFIG or create the file",
            ))
        }
    };
    parse(&text).map_err(|(line, msg)| {
        AppError::hint(
            format!("{}:{line}: {msg}", path.display()),
            "keys: home, pager, log, relay, mdns, bind, opp_stages (see README, \"Configuration\")",
        )
    })
}

/// Parses a settings file; the error is the 1-based line and a one-line message.
pub fn parse(text: &str) -> Result<Config, (usize, String)> {
    toml::from_str::<Config>(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        let msg = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        (line, msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let c = parse(
            "home = \"/tmp/k\"\npager = \"\"\nlog = \"debug\"\nrelay = \"off\"\nmdns = false\nbind = \"127.0.0.1:7400\"\n",
        )
        .unwrap();
        assert_eq!(c.home, Some(PathBuf::from("/tmp/k")));
        assert_eq!(c.pager.as_deref(), Some(""));
        assert_eq!(c.log.as_deref(), Some("debug"));
        assert_eq!(c.relay.as_deref(), Some("off"));
        assert_eq!(c.mdns, Some(false));
        assert_eq!(c.bind.as_deref(), Some("127.0.0.1:7400"));
    }

    #[test]
    fn unknown_key_names_its_line() {
        let (line, msg) = parse("pager = \"less\"\n\ncolour = true\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("colour"), "{msg}");
    }
}
