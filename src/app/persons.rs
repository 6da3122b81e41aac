//! The network flows of sharing: pairing with a person (`kith person invite` / `accept`),
//! pulling the slices persons share (`kith share sync`, `kith sync`), and serving shares
//! (`kith share serve`; the daemon serves them too). Progress goes to callbacks; nothing here
//! prints.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iroh::EndpointAddr;

use super::share::Sharing;
use super::sync::runtime;
use super::{AppError, Result};
use crate::net::share::{self as nshare, PersonReply, PersonRequest, PERSON_ALPN, SHARE_ALPN};
use crate::net::{self, pair, NetConfig};
use crate::store::Vault;

fn sharing(v: &Vault) -> Sharing<'_> {
    Sharing {
        vault: v,
        now: net::now_ms(),
    }
}

/// Opens a person invite window: reports the ticket, records the first person that accepts
/// it under `name`, and returns their key.
pub fn invite(
    vault: Arc<Vault>,
    home: &Path,
    cfg: NetConfig,
    name: &str,
    on_ticket: &mut dyn FnMut(String) -> Result<()>,
) -> Result<String> {
    let name = super::check_name(name)?;
    if sharing(&vault).resolve_person(&name).is_ok() {
        return Err(AppError::hint(
            format!("there is already a person called '{name}'"),
            "choose another --name, or `kith person remove` the old one",
        ));
    }
    let key = net::device_key(home)?;
    let me = key.public();
    runtime()?.block_on(async {
        let ep = net::bind(&cfg, key, vec![PERSON_ALPN.to_vec()]).await?;
        let addrs = net::listen_addrs(&ep);
        let secret: [u8; 16] = rand::random();
        let ticket = pair::Ticket {
            version: 1,
            device: *me.as_bytes(),
            addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            secret,
            expires: net::now_ms() + pair::TICKET_LIFETIME_MS,
        };
        on_ticket(nshare::encode_ticket(&ticket))?;
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(pair::TICKET_LIFETIME_MS as u64);
        loop {
            let incoming = tokio::select! {
                i = ep.accept() => i,
                _ = tokio::time::sleep_until(deadline) => {
                    ep.close().await;
                    return Err(AppError::hint("nobody accepted before the ticket expired", "run `kith person invite` again"));
                }
                _ = tokio::signal::ctrl_c() => {
                    ep.close().await;
                    return Err(AppError::user("interrupted; the ticket is no longer valid"));
                }
            };
            let Some(incoming) = incoming else { break };
            let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(15), incoming).await else {
                continue;
            };
            if conn.alpn() != PERSON_ALPN {
                conn.close(1u32.into(), b"wrong protocol");
                continue;
            }
            let peer = conn.remote_id();
            let attempt = async {
                let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
                let req: PersonRequest = pair::read_frame(&mut recv).await?;
                let own_device = matches!(net::trust(&vault, &peer), Ok(kith_core::devices::Trust::Trusted));
                let reason = if !pair::secret_eq(&req.secret, &secret) {
                    Some("wrong ticket secret")
                } else if net::now_ms() > ticket.expires {
                    Some("this ticket expired")
                } else if own_device {
                    Some("this is one of your own devices; pair devices with `kith device invite`")
                } else {
                    None
                };
                let reply = PersonReply { ok: reason.is_none(), reason: reason.unwrap_or_default().to_string() };
                pair::write_frame(&mut send, &reply).await?;
                let _ = send.finish();
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
                match reason {
                    Some(r) => Err(r.to_string()),
                    None => Ok(req.addrs),
                }
            };
            match tokio::time::timeout(Duration::from_secs(15), attempt).await {
                Ok(Ok(addrs)) => {
                    let key = net::id_hex(&peer);
                    let addrs: Vec<String> = addrs
                        .into_iter()
                        .filter(|a| a.parse::<std::net::SocketAddr>().is_ok())
                        .take(16)
                        .collect();
                    sharing(&vault).add_person(&name, &key, addrs)?;
                    ep.close().await;
                    return Ok(key);
                }
                Ok(Err(e)) => tracing::warn!("refused a person pairing attempt: {e}"),
                Err(_) => tracing::warn!("a person pairing attempt timed out"),
            }
        }
        ep.close().await;
        Err(AppError::user("the invite window closed"))
    })
}

/// Accepts a person ticket: records the inviter as a person called `name`. Returns their key.
pub fn accept(
    vault: Arc<Vault>,
    home: &Path,
    cfg: NetConfig,
    ticket: &str,
    name: &str,
) -> Result<String> {
    let name = super::check_name(name)?;
    let t = nshare::decode_ticket(ticket, net::now_ms())?;
    let key = net::device_key(home)?;
    let me = key.public();
    if me.as_bytes() == &t.device {
        return Err(AppError::user(
            "this ticket was printed here; the other person runs `kith person accept`",
        ));
    }
    let inviter = net::id_hex(&iroh::EndpointId::from_bytes(&t.device).expect("checked"));
    if let Ok(p) = sharing(&vault).resolve_person(&name) {
        if p.key != inviter {
            return Err(AppError::hint(
                format!("there is already a person called '{name}'"),
                "choose another --name",
            ));
        }
    }
    let mut cfg = cfg;
    cfg.bind = cfg.bind.map(|b| std::net::SocketAddr::new(b.ip(), 0));
    runtime()?.block_on(async {
        let ep = net::bind(&cfg, key, vec![]).await?;
        let target: EndpointAddr = t.addr();
        let conn = tokio::time::timeout(Duration::from_secs(20), ep.connect(target, PERSON_ALPN))
            .await
            .map_err(|_| {
                AppError::hint(
                    "could not reach the inviting person within 20 s",
                    "is `kith person invite` still running there?",
                )
            })?
            .map_err(|e| {
                AppError::hint(
                    format!("could not reach the inviting person: {e}"),
                    "is `kith person invite` still running there?",
                )
            })?;
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| AppError::user(format!("pairing failed: {e}")))?;
        // The address this device serves shares on, when one is configured.
        let addrs: Vec<String> = net::NetConfig::resolve(home, None, None, None)
            .ok()
            .and_then(|c| c.bind)
            .filter(|a| a.port() != 0)
            .map(|a| vec![a.to_string()])
            .unwrap_or_default();
        pair::write_frame(
            &mut send,
            &PersonRequest {
                secret: t.secret,
                addrs,
            },
        )
        .await
        .map_err(|e| AppError::user(format!("pairing failed: {e}")))?;
        let _ = send.finish();
        let reply: PersonReply = pair::read_frame(&mut recv).await.map_err(|e| {
            AppError::hint(
                format!("pairing failed: {e}"),
                "the ticket may be used or expired",
            )
        })?;
        conn.close(0u32.into(), b"done");
        ep.close().await;
        if !reply.ok {
            return Err(AppError::hint(
                format!("the other person refused: {}", reply.reason),
                "ask them to run `kith person invite` again",
            ));
        }
        let addrs: Vec<String> = t.addrs.iter().map(|a| a.to_string()).collect();
        sharing(&vault).add_person(&name, &inviter, addrs)?;
        Ok(inviter)
    })
}

/// Pulls the slices every person shares with this user. One report per person.
pub fn pull_all(
    vault: Arc<Vault>,
    home: &Path,
    mut cfg: NetConfig,
) -> Result<Vec<nshare::PullReport>> {
    let persons = sharing(&vault).persons_paired_here()?;
    if persons.is_empty() {
        return Ok(Vec::new());
    }
    cfg.bind = cfg.bind.map(|b| std::net::SocketAddr::new(b.ip(), 0));
    let key = net::device_key(home)?;
    runtime()?.block_on(async {
        let ep = net::bind(&cfg, key, vec![]).await?;
        let mut reports = Vec::new();
        for p in persons {
            let Some(id) = net::parse_id(&p.key) else {
                continue;
            };
            let mut addr = EndpointAddr::new(id);
            for a in nshare::addrs_of(&p.addrs) {
                addr = addr.with_ip_addr(a);
            }
            let mut report =
                match tokio::time::timeout(Duration::from_secs(10), ep.connect(addr, SHARE_ALPN))
                    .await
                {
                    Ok(Ok(conn)) => match tokio::time::timeout(
                        Duration::from_secs(120),
                        nshare::pull(vault.clone(), &conn, &p.key),
                    )
                    .await
                    {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => nshare::PullReport {
                            error: Some(e),
                            ..Default::default()
                        },
                        Err(_) => nshare::PullReport {
                            error: Some("timed out".into()),
                            ..Default::default()
                        },
                    },
                    Ok(Err(e)) => nshare::PullReport {
                        error: Some(format!("unreachable: {e}")),
                        ..Default::default()
                    },
                    Err(_) => nshare::PullReport {
                        error: Some("unreachable within 10 s".into()),
                        ..Default::default()
                    },
                };
            report.person = p.name.clone();
            let (err, now) = (report.error.clone(), net::now_ms());
            let v = vault.clone();
            let key = p.key.clone();
            let _ = net::blocking(&v, move |v| {
                sharing(v).update_person(&key, |p| match err {
                    None => {
                        p.last_sync = now;
                        p.last_error.clear();
                    }
                    Some(e) => p.last_error = e,
                })
            })
            .await;
            reports.push(report);
        }
        ep.close().await;
        Ok(reports)
    })
}

/// Serves shares (`kith share serve`) until interrupted; `on_event` gets one line per
/// connection.
pub fn serve(
    vault: Arc<Vault>,
    home: &Path,
    cfg: NetConfig,
    on_event: &mut dyn FnMut(String) -> Result<()>,
) -> Result<()> {
    let key = net::device_key(home)?;
    runtime()?.block_on(async {
        let ep = net::bind(&cfg, key, vec![SHARE_ALPN.to_vec()]).await?;
        let addrs = net::listen_addrs(&ep);
        on_event(format!(
            "serving shares on {}",
            addrs.iter().cloned().collect::<Vec<_>>().join(", ")
        ))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| AppError::user(format!("cannot watch for SIGTERM: {e}")))?;
        loop {
            tokio::select! {
                i = ep.accept() => {
                    let Some(incoming) = i else { break };
                    let (v, tx) = (vault.clone(), tx.clone());
                    tokio::spawn(async move {
                        let Ok(conn) = incoming.await else { return };
                        if conn.alpn() != SHARE_ALPN {
                            return;
                        }
                        let msg = match nshare::serve_conn(v, conn).await {
                            Ok(m) => m,
                            Err(e) => format!("warning: {e}"),
                        };
                        let _ = tx.send(msg);
                    });
                }
                Some(msg) = rx.recv() => on_event(msg)?,
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        ep.close().await;
        Ok(())
    })
}
