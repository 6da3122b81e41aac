//! Device and sync commands: `device id|invite|join|list|rename|remove`, `sync`, `daemon`,
//! `status`. Only these bind a network endpoint (and `status`, `device id|list|rename|remove`
//! do not).

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use kith_core::sync::Summary;

pub use super::sync::{daemon, sync, DaemonArgs, SyncArgs};

use std::io::IsTerminal;

use super::sync::terminal_progress;
use crate::app::sync::Progress;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::devices::{self, device_rows, resolve_device};
use crate::app::pairing::{self, PairEvent};
use crate::app::AppError;
use crate::net::{self, pair, NetConfig};
use crate::store::Vault;

/// Network flags shared by the commands that connect.
#[derive(Args, Debug, Clone, Default)]
pub struct NetArgs {
    /// Relays: off, default (n0's public relays), or the https:// URL of your own iroh relay
    /// [env: KITH_RELAY]
    #[arg(long, value_name = "off|default|URL")]
    pub relay: Option<String>,
    /// Local network discovery (mDNS): on or off [env: KITH_MDNS]
    #[arg(long, value_name = "on|off")]
    pub mdns: Option<String>,
    /// Listen on this address (and put it in pairing tickets), e.g. 127.0.0.1:7400
    /// [env: KITH_BIND]
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<String>,
}

impl NetArgs {
    pub(super) fn config(&self, ctx: &Ctx) -> Result<NetConfig, AppError> {
        NetConfig::resolve(
            &ctx.home,
            self.relay.as_deref(),
            self.mdns.as_deref(),
            self.bind.as_deref(),
        )
        .map_err(AppError::from)
    }
}

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Print this device's id
    Id,
    /// Print a one-time pairing ticket and wait for the other device to join
    #[command(after_long_help = super::conventions::EX_INVITE)]
    Invite {
        /// This device's name (default: the host name)
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Join another device of yours with the ticket it printed
    #[command(after_long_help = super::conventions::EX_JOIN)]
    Join {
        ticket: String,
        /// This device's name (default: the host name)
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// List your devices
    #[command(visible_alias = "ls")]
    List,
    /// Rename a device (this one by default)
    Rename {
        /// New name
        name: String,
        /// The device (id prefix); default: this device
        #[arg(long)]
        device: Option<String>,
    },
    /// Remove a device: every one of your devices refuses it from then on
    Remove {
        /// The device (id prefix)
        device: String,
    },
}

pub(super) fn open_shared(ctx: &Ctx) -> Result<Arc<Vault>, AppError> {
    Ok(Arc::new(ctx.open()?.vault))
}

pub fn device(ctx: &Ctx, cmd: DeviceCommand, out: &mut Out) -> Result<(), AppError> {
    match cmd {
        DeviceCommand::Id => {
            let key = net::device_key(&ctx.home)?;
            let id = net::id_hex(&key.public());
            if ctx.json {
                out.json(&serde_json::json!({ "id": id })).map_err(io_err)
            } else {
                out.line(id).map_err(io_err)
            }
        }
        DeviceCommand::Invite { name, net } => invite(ctx, name, net, out),
        DeviceCommand::Join { ticket, name, net } => join(ctx, &ticket, name, net, out),
        DeviceCommand::List => list(ctx, out),
        DeviceCommand::Rename { name, device } => rename(ctx, &name, device.as_deref(), out),
        DeviceCommand::Remove { device } => remove(ctx, &device, out),
    }
}

pub(super) fn sync_summary_line(name: &str, s: &Summary, elapsed: Duration) -> String {
    format!(
        "{name}: {} documents differed, {} sent, {} received ({} new); {} bytes sent, {} received; {} round trips; {:.2} s",
        s.docs_differing,
        s.docs_sent,
        s.docs_received,
        s.docs_created,
        s.bytes_sent,
        s.bytes_received,
        s.round_trips,
        elapsed.as_secs_f64()
    )
}

/// Renders a pairing flow's progress: the ticket on stdout, the rest on stderr; the running
/// counts of the first sync only through `progress` (a terminal's redrawn line, as `kith sync`).
fn render_pair_event(
    out: &mut Out,
    progress: Option<&Progress>,
    ev: PairEvent,
) -> Result<(), AppError> {
    match ev {
        PairEvent::Ticket(t) => {
            out.line(t).map_err(io_err)?;
            out.flush().map_err(io_err)?;
            out.note("waiting for the other device: run `kith device join TICKET` there (the ticket works once, for 10 minutes)");
        }
        PairEvent::Paired { name, id } => {
            out.note(format!("paired with {name} ({}); syncing…", &id[..8]))
        }
        PairEvent::Progress { name, summary } => {
            if let Some(p) = progress {
                p(&name, &summary)
            }
        }
        PairEvent::Synced {
            name,
            summary,
            elapsed,
        } => {
            if progress.is_some() {
                super::sync::clear_progress();
            }
            out.note(sync_summary_line(&name, &summary, elapsed))
        }
        PairEvent::Warning(w) => out.warn(w),
    }
    Ok(())
}

fn invite(
    ctx: &Ctx,
    name: Option<String>,
    netargs: NetArgs,
    out: &mut Out,
) -> Result<(), AppError> {
    let cfg = netargs.config(ctx)?;
    let vault = open_shared(ctx)?;
    pairing::invite(vault, &ctx.home, cfg, ctx.now, name, &mut |ev| {
        render_pair_event(out, None, ev)
    })
}

fn join(
    ctx: &Ctx,
    ticket: &str,
    name: Option<String>,
    netargs: NetArgs,
    out: &mut Out,
) -> Result<(), AppError> {
    let ticket = pair::Ticket::decode(ticket, net::now_ms())?;
    let name = devices::device_name(name)?;
    let cfg = netargs.config(ctx)?;
    let vault = open_shared(ctx)?;
    let progress = (std::io::stderr().is_terminal() && !ctx.json).then(terminal_progress);
    let (inviter, inviter_name) =
        pairing::join(vault, &ctx.home, cfg, ctx.now, &ticket, name, &mut |ev| {
            render_pair_event(out, progress.as_ref(), ev)
        })?;
    if ctx.json {
        out.json(&serde_json::json!({"paired_with": inviter, "name": inviter_name}))
            .map_err(io_err)?;
    }
    Ok(())
}

/// "3 minutes ago" (relative to now), or "never".
fn ago(ms: i64, never: &str) -> String {
    if ms <= 0 {
        return never.to_string();
    }
    let secs = (net::now_ms() - ms) / 1000;
    let (n, unit) = match secs {
        s if s < 0 => return kith_core::time::format_unix_ms_utc(ms),
        s if s < 60 => return "just now".to_string(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// The table `device list` and `status` share: the same columns in the same order, times
/// relative to now ("3 minutes ago").
fn device_table(rows: &[devices::DeviceRow]) -> Vec<Vec<String>> {
    let mut table = vec![vec![
        "NAME".into(),
        "ID".into(),
        "LAST SYNC".into(),
        "LAST SEEN".into(),
        "UNSENT".into(),
        "ADDRESS".into(),
        "".into(),
    ]];
    for d in rows {
        let note = if d.this_device {
            "this device".to_string()
        } else if d.removed {
            "removed".to_string()
        } else {
            d.last_error.clone()
        };
        let never = if d.this_device { "-" } else { "never" };
        table.push(vec![
            d.name.clone(),
            d.id[..16].to_string(),
            ago(d.sync_ms, never),
            ago(d.seen_ms, never),
            d.unsent_changes
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            d.last_address.clone().unwrap_or_else(|| "-".into()),
            note,
        ]);
    }
    table
}

fn list(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let rows = device_rows(&ctx.open_read()?)?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    out.table(&device_table(&rows)).map_err(io_err)
}

fn rename(ctx: &Ctx, name: &str, device: Option<&str>, out: &mut Out) -> Result<(), AppError> {
    devices::device_name(Some(name.to_string()))?;
    // Resolve on a read-only open first: a device that does not exist creates no vault.
    let target = match device {
        Some(p) => Some(resolve_device(&device_rows(&ctx.open_read()?)?, p)?),
        None => None,
    };
    let (target, name) = ctx.open()?.rename_device(name, target.as_deref())?;
    out.note(format!("renamed {} to {name}", &target[..8]));
    Ok(())
}

fn remove(ctx: &Ctx, device: &str, out: &mut Out) -> Result<(), AppError> {
    let target = resolve_device(&device_rows(&ctx.open_read()?)?, device)?;
    let target = ctx.open()?.remove_device(&target)?;
    out.note(format!(
        "removed {}: this device refuses it now, and your other devices will once they sync. It keeps the data it already had.",
        &target[..16]
    ));
    Ok(())
}

pub fn status(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let rows = device_rows(&app)?;
    if ctx.json {
        // The shares this device serves ride on its own row (docs/json-output.md).
        let shares = super::share::status_shares_json(&app)?;
        let mut rows = serde_json::to_value(&rows).map_err(|e| AppError::user(e.to_string()))?;
        if let (false, Some(list)) = (shares.is_empty(), rows.as_array_mut()) {
            if let Some(me) = list.iter_mut().find(|r| r["this_device"] == true) {
                me["shares"] = serde_json::Value::Array(shares);
            }
        }
        return out.json(&rows).map_err(io_err);
    }
    drop(app);
    out.table(&device_table(&rows)).map_err(io_err)?;
    for d in &rows {
        for q in &d.quarantined {
            out.warn(format!(
                "document {} is quarantined in syncs with {} ({} time{}, since {}): {}; each sync tries it again",
                q.doc,
                d.name,
                q.count,
                if q.count == 1 { "" } else { "s" },
                q.since,
                q.reason
            ));
        }
    }
    if rows.len() <= 1 {
        out.note("no other devices yet: pair one with `kith device invite` here and `kith device join TICKET` there");
    }
    // Persons who tried to write into a share (docs/design/sharing.md).
    super::share::status_warnings(ctx, out)?;
    Ok(())
}
