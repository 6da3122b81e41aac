//! `sync` and `daemon`: parsing and rendering; the flows are in `app::sync` and `app::daemon`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use kith_core::sync::Summary;

use super::device::{open_shared, NetArgs};
use super::output::io_err;
use super::{Ctx, Out};
use crate::app::daemon::{self, DaemonEvent};
use crate::app::sync::{self as appsync, Progress};
use crate::app::AppError;

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub net: NetArgs,
    /// Give up on a device that does not answer within this many seconds
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// A progress line on a terminal's stderr, redrawn at most five times a second.
pub(super) fn terminal_progress() -> Progress {
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    Arc::new(move |name: &str, s: &Summary| {
        let Ok(mut last) = last.lock() else { return };
        if last.is_none_or(|t| t.elapsed() > Duration::from_millis(200)) {
            *last = Some(Instant::now());
            eprint!(
                "\r{name}: {} documents received, {} sent, {} KB",
                s.docs_received,
                s.docs_sent,
                (s.bytes_received + s.bytes_sent) / 1024
            );
            let _ = std::io::stderr().flush();
        }
    })
}

/// Erases the progress line.
pub(super) fn clear_progress() {
    eprint!("\r\x1b[2K");
}

pub fn sync(ctx: &Ctx, a: SyncArgs, out: &mut Out) -> Result<(), AppError> {
    let cfg = a.net.config(ctx)?;
    let vault = open_shared(ctx)?;
    let progress = std::io::stderr().is_terminal() && !ctx.json;
    let reports = appsync::sync_all(
        vault,
        &ctx.home,
        cfg,
        Duration::from_secs(a.timeout),
        progress.then(terminal_progress),
    );
    // Slices persons share with this user (docs/design/sharing.md).
    let pulled = super::share::pull_after_sync(ctx, &a.net, out)?;
    let reports = match reports {
        Err(_) if pulled => return Ok(()),
        r => r?,
    };
    if progress {
        clear_progress();
    }
    let verdict = appsync::verdict(&reports);
    if ctx.json {
        out.json(&reports).map_err(io_err)?;
    } else if !appsync::refused_as_removed(&reports) {
        for r in &reports {
            if r.ok {
                out.note(format!(
                    "{}: {} documents differed, {} sent, {} received; {} bytes sent, {} received; {} round trips; {:.2} s",
                    r.name, r.docs_differing, r.docs_sent, r.docs_received, r.bytes_sent, r.bytes_received, r.round_trips, r.millis as f64 / 1000.0
                ));
                match &r.slices {
                    Some(s) if s.error.is_some() => out.note(format!(
                        "{}: shared slices or introductions not synced: {}",
                        r.name,
                        s.error.as_deref().unwrap_or_default()
                    )),
                    Some(s) if s.docs_received > 0 || s.dropped > 0 || s.intro_docs_received > 0 => out.note(format!(
                        "{}: shared slices: {} document(s) received, {} slice(s) dropped; {} introduction document(s) received",
                        r.name, s.docs_received, s.dropped, s.intro_docs_received
                    )),
                    _ => {}
                }
            } else {
                out.note(format!("{} ({}): {}", r.name, &r.device[..8], r.error));
            }
        }
    }
    verdict
}

/// `kith daemon --help`: how to keep it running as a user service.
const DAEMON_SERVICE_HELP: &str = "\
Run it as a user service so it starts at login and restarts after a failure:

  Linux (systemd):  copy docs/service/kith.service to ~/.config/systemd/user/, then
                    systemctl --user daemon-reload
                    systemctl --user enable --now kith.service
                    (logs: journalctl --user -u kith -f)
  macOS (launchd):  copy docs/service/com.kith.daemon.plist to ~/Library/LaunchAgents/, then
                    launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/com.kith.daemon.plist

Both files are in kith's source tree; set the path of the kith binary in them first. The
daemon stops cleanly on Ctrl-C or SIGTERM.";

#[derive(Args, Debug)]
#[command(after_long_help = DAEMON_SERVICE_HELP)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub net: NetArgs,
    /// Also serve the web UI (as `kith web --no-open`, on 127.0.0.1); its URL is printed after
    /// the ready line
    #[arg(long)]
    pub web: bool,
    /// The web UI's port with --web (0: any free port)
    #[arg(long, value_name = "PORT", default_value_t = 0, requires = "web")]
    pub web_port: u16,
}

/// An error's text on one log line: a network error's text can span lines (a cause under
/// it, blank lines between), and every line of the daemon's log starts with its time.
fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(" / ")
}

/// The time for a daemon log line (the real clock: a log is read later).
fn stamp() -> String {
    kith_core::time::format_unix_ms_utc(jiff::Timestamp::now().as_millisecond())
}

pub fn daemon(ctx: &Ctx, a: DaemonArgs, out: &mut Out) -> Result<(), AppError> {
    let cfg = a.net.config(ctx)?;
    let vault = open_shared(ctx)?;
    let _lock = daemon::lock(&ctx.home)?;
    let web = if a.web {
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        Some(crate::web::prepare(ctx, ip, a.web_port)?)
    } else {
        None
    };
    let web_url = web.as_ref().map(|w| w.url.clone());
    let companion = web.map(|w| Box::pin(w.serve()) as daemon::Companion);
    daemon::serve_with(vault, &ctx.home, cfg, ctx.now, companion, &mut |ev| {
        match ev {
            DaemonEvent::Ready { id, addrs } => {
                out.line(format!(
                    "{} kith daemon ready: device {id} listening on {}",
                    stamp(),
                    if addrs.is_empty() {
                        "relay/discovery".to_string()
                    } else {
                        addrs.join(", ")
                    }
                ))
                .map_err(io_err)?;
                if let Some(url) = &web_url {
                    out.line(format!("{} kith web: {url}", stamp()))
                        .map_err(io_err)?;
                }
                out.flush().map_err(io_err)?;
            }
            DaemonEvent::ResponderFailed { peer, error } => {
                eprintln!("{} sync from {peer} failed: {}", stamp(), one_line(&error))
            }
            DaemonEvent::PushFailed { name, error, retry } => eprintln!(
                "{} sync with {name} failed: {}; retrying in {} s",
                stamp(),
                one_line(&error),
                retry.as_secs()
            ),
            DaemonEvent::Stopped => out.note(format!("{} kith daemon stopped", stamp())),
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_multi_line_error_is_one_log_line() {
        assert_eq!(
            one_line("connect failed\n\nCaused by:\n    timed out\n"),
            "connect failed / Caused by: / timed out"
        );
        assert_eq!(one_line("nothing moved"), "nothing moved");
    }
}
