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
fn terminal_progress() -> Progress {
    let last = Mutex::new(Instant::now());
    Arc::new(move |name: &str, s: &Summary| {
        let Ok(mut last) = last.lock() else { return };
        if last.elapsed() > Duration::from_millis(200) {
            *last = Instant::now();
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
        eprint!("\r\x1b[2K");
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
}

/// The time for a daemon log line (the real clock: a log is read later).
fn stamp() -> String {
    kith_core::time::format_unix_ms_utc(jiff::Timestamp::now().as_millisecond())
}

/// Holds `<home>/daemon.lock` (an advisory lock the OS releases when the process ends) for the
/// daemon's life: a second daemon on the same home is refused, whatever port it would use.
fn lock_daemon(ctx: &Ctx) -> Result<std::fs::File, AppError> {
    let path = ctx.home.join("daemon.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AppError::user(format!("cannot open {}: {e}", path.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(AppError::hint(
            format!(
                "a kith daemon is already running for {}",
                ctx.home.display()
            ),
            "stop it first, or use it: one daemon per home",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(AppError::user(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

pub fn daemon(ctx: &Ctx, a: DaemonArgs, out: &mut Out) -> Result<(), AppError> {
    let cfg = a.net.config(ctx)?;
    let vault = open_shared(ctx)?;
    let _lock = lock_daemon(ctx)?;
    daemon::serve(vault, &ctx.home, cfg, ctx.now, &mut |ev| {
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
                out.flush().map_err(io_err)?;
            }
            DaemonEvent::ResponderFailed { peer, error } => {
                eprintln!("{} sync from {peer} failed: {error}", stamp())
            }
            DaemonEvent::PushFailed { name, error, retry } => eprintln!(
                "{} sync with {name} failed: {error}; retrying in {} s",
                stamp(),
                retry.as_secs()
            ),
            DaemonEvent::Stopped => out.note(format!("{} kith daemon stopped", stamp())),
        }
        Ok(())
    })
}
