//! Syncing with the user's other devices: one session per reachable device, in parallel, and
//! the verdict over all of them. Progress goes to a callback; nothing here prints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iroh::{Endpoint, EndpointAddr};
use kith_core::sync::{Summary, ALPN as SYNC_ALPN};
use serde::Serialize;

use super::AppError;
use crate::net::{self, session, NetConfig};
use crate::store::Vault;

/// The async runtime of the commands that use the network.
pub fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::user(format!("cannot start the async runtime: {e}")))
}

/// Reports a running session's counts (device name, summary so far).
pub type Progress = Arc<dyn Fn(&str, &Summary) + Send + Sync>;

/// The outcome of syncing with one device (the `sync --json` rows).
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub device: String,
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    pub docs_differing: u64,
    pub docs_sent: u64,
    pub docs_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub round_trips: u64,
    pub millis: u64,
    /// The slices persons shared with the user, pulled from that device after the session
    /// (`kith sync` only; docs/design/sharing.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slices: Option<net::slices::SlicesReport>,
}

/// Connects to one device and runs a session with it; never fails, the report says how it went.
pub async fn sync_one(
    vault: Arc<Vault>,
    ep: Endpoint,
    addr: EndpointAddr,
    name: String,
    timeout: Duration,
    progress: Option<Progress>,
) -> SyncReport {
    let started = Instant::now();
    let device = net::id_hex(&addr.id);
    let mut report = SyncReport {
        device,
        name: name.clone(),
        ok: false,
        error: String::new(),
        docs_differing: 0,
        docs_sent: 0,
        docs_received: 0,
        bytes_sent: 0,
        bytes_received: 0,
        round_trips: 0,
        millis: 0,
        slices: None,
    };
    let conn = match tokio::time::timeout(timeout, ep.connect(addr, SYNC_ALPN)).await {
        Err(_) => {
            report.error = format!("not reachable within {} s", timeout.as_secs());
            return report;
        }
        Ok(Err(e)) => {
            report.error = format!("not reachable: {e}");
            return report;
        }
        Ok(Ok(c)) => c,
    };
    let mut on_progress = |s: &Summary| {
        if let Some(p) = &progress {
            p(&name, s);
        }
    };
    let result = session::initiate(vault, &conn, &mut on_progress).await;
    report.millis = started.elapsed().as_millis() as u64;
    match result {
        Ok(s) => {
            report.ok = true;
            report.docs_differing = s.docs_differing;
            report.docs_sent = s.docs_sent;
            report.docs_received = s.docs_received;
            report.bytes_sent = s.bytes_sent;
            report.bytes_received = s.bytes_received;
            report.round_trips = s.round_trips;
        }
        Err(e) => {
            report.error = e.to_string();
        }
    }
    report
}

/// Syncs with every trusted device at once (`kith sync`). Fails only when there is no device
/// to sync with or the endpoint cannot start; per-device failures are in the reports.
pub fn sync_all(
    vault: Arc<Vault>,
    home: &std::path::Path,
    mut cfg: NetConfig,
    timeout: Duration,
    progress: Option<Progress>,
) -> Result<Vec<SyncReport>, AppError> {
    // `sync` only dials out: keep the configured interface but let the OS pick the port, so it
    // works while this device's daemon listens on the configured one.
    cfg.bind = cfg.bind.map(|b| std::net::SocketAddr::new(b.ip(), 0));
    let key = net::device_key(home)?;
    let me = key.public();
    let peers = net::trusted_peers(&vault, &me)?;
    if peers.is_empty() {
        return Err(AppError::hint(
            "no other device to sync with",
            "pair one with `kith device invite` here and `kith device join TICKET` there",
        ));
    }
    let reports = runtime()?.block_on(async {
        let ep = net::bind(&cfg, key, vec![SYNC_ALPN.to_vec()]).await?;
        let mut tasks = Vec::new();
        for (addr, name) in peers {
            let (vault, ep, progress) = (vault.clone(), ep.clone(), progress.clone());
            tasks.push(tokio::spawn(async move {
                let mut r = sync_one(
                    vault.clone(),
                    ep.clone(),
                    addr.clone(),
                    name,
                    timeout,
                    progress,
                )
                .await;
                // Then the slices persons shared with the user, from that device.
                if r.ok {
                    r.slices = Some(net::slices::pull_from(vault, ep, addr).await);
                }
                r
            }));
        }
        let mut reports = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                reports.push(r);
            }
        }
        ep.close().await;
        Ok::<_, AppError>(reports)
    });
    // A slice dropped (revoked, or an older epoch): no byte of it stays in free pages.
    let dropped = reports
        .as_ref()
        .map(|rs| {
            rs.iter()
                .any(|r| r.slices.as_ref().is_some_and(|s| s.dropped > 0))
        })
        .unwrap_or(false);
    if dropped {
        if let Ok(mut v) = Arc::try_unwrap(vault) {
            v.optimize()?;
        }
    }
    reports
}

/// The verdict of a `sync`: Ok when any device synced; the removed-device error when every
/// device refused this one as removed; else "no device could be reached".
pub fn verdict(reports: &[SyncReport]) -> Result<(), AppError> {
    if reports.iter().any(|r| r.ok) {
        return Ok(());
    }
    if let Some(r) = reports
        .iter()
        .find(|r| r.error.contains("this device was removed"))
    {
        return Err(AppError::user(format!(
            "{} refused to sync: this device was removed from your vault (it keeps the data it had)",
            r.name
        )));
    }
    Err(AppError::hint(
        "no device could be reached",
        "is `kith daemon` running on another device, and can this one reach it?",
    ))
}

/// True when no device synced and one refused this device as removed (then only the error is
/// shown, not the per-device lines).
pub fn refused_as_removed(reports: &[SyncReport]) -> bool {
    !reports.iter().any(|r| r.ok)
        && reports
            .iter()
            .any(|r| r.error.contains("this device was removed"))
}
