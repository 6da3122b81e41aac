//! The user's devices: the membership document (who may sync), this device's name, and what
//! each device last did (`device list`, `status`). Nothing here binds an endpoint or prints.

use std::collections::HashMap;

use kith_core::devices::{self, DEVICES_DOC};
use serde::Serialize;

use super::{am_err, App, AppError};
use crate::net;

/// One row of `device list` / `status` (and their `--json`).
#[derive(Debug, Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub name: String,
    pub this_device: bool,
    pub removed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_address: Option<String>,
    pub addrs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsent_changes: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// Documents a sync with this device had to skip (see docs/design/sync-protocol.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<QuarantineRow>,
    #[serde(skip)]
    pub seen_ms: i64,
    #[serde(skip)]
    pub sync_ms: i64,
}

#[derive(Debug, Serialize)]
pub struct QuarantineRow {
    pub doc: String,
    pub reason: String,
    pub since: String,
    pub last: String,
    pub count: u32,
}

/// A device name as given (`--name`, `device rename`), or the host name: trimmed, non-empty,
/// no control characters.
/// Own devices' names by key (hex), from the membership document.
pub(crate) fn device_names(
    r: &crate::store::Reader,
) -> Result<std::collections::BTreeMap<String, String>, AppError> {
    Ok(match r.load(kith_core::devices::DEVICES_DOC)? {
        Some(doc) => kith_core::devices::read_devices(&doc)
            .into_iter()
            .map(|(k, d)| (k, d.name))
            .collect(),
        None => Default::default(),
    })
}

pub fn device_name(name: Option<String>) -> Result<String, AppError> {
    let n = name.unwrap_or_else(net::default_device_name);
    let n = n.trim().to_string();
    if n.is_empty() || n.chars().any(char::is_control) {
        return Err(AppError::user("a device name must be non-empty text"));
    }
    Ok(n)
}

fn ms_text(ms: i64) -> Option<String> {
    (ms > 0).then(|| kith_core::time::format_unix_ms_utc(ms))
}

/// Every recorded device (and this one, if it has a key but is not recorded yet). A read: a
/// device without a key gets none.
pub fn device_rows(app: &App) -> Result<Vec<DeviceRow>, AppError> {
    let r = app.vault.read()?;
    let mine = match net::existing_device_key(&app.home)? {
        Some(k) => net::id_hex(&k.public()),
        None => String::new(),
    };
    let states = r.peer_states()?;
    let mut quarantine: HashMap<String, Vec<QuarantineRow>> = HashMap::new();
    for (peer, doc, q) in r.quarantined()? {
        quarantine
            .entry(data_encoding::HEXLOWER.encode(&peer))
            .or_default()
            .push(QuarantineRow {
                doc: doc.to_string(),
                reason: q.reason,
                since: kith_core::time::format_unix_ms_utc(q.since),
                last: kith_core::time::format_unix_ms_utc(q.last),
                count: q.count,
            });
    }
    let mut rows = Vec::new();
    let devs = match r.load(DEVICES_DOC)? {
        Some(doc) => devices::read_devices(&doc),
        None => Default::default(),
    };
    if !mine.is_empty() && !devs.contains_key(&mine) {
        rows.push(DeviceRow {
            id: mine.clone(),
            name: net::default_device_name(),
            this_device: true,
            removed: false,
            last_seen: None,
            last_sync: None,
            last_address: None,
            addrs: vec![],
            unsent_changes: None,
            last_error: String::new(),
            quarantined: Vec::new(),
            seen_ms: 0,
            sync_ms: 0,
        });
    }
    for (hex, d) in devs {
        let st = net::parse_id(&hex)
            .and_then(|id| states.get(id.as_bytes()).cloned())
            .unwrap_or_default();
        let this = hex == mine;
        let unsent = if this || d.removed {
            None
        } else {
            Some(r.changes_after(st.synced_upto)?)
        };
        rows.push(DeviceRow {
            quarantined: quarantine.remove(&hex).unwrap_or_default(),
            seen_ms: st.last_seen,
            sync_ms: st.last_sync,
            id: hex,
            name: d.name,
            this_device: this,
            removed: d.removed,
            last_seen: ms_text(st.last_seen),
            last_sync: ms_text(st.last_sync),
            last_address: (!st.last_addr.is_empty())
                .then(|| st.last_addr.clone())
                .or_else(|| d.addrs.iter().next().cloned()),
            addrs: d.addrs.into_iter().collect(),
            unsent_changes: unsent,
            last_error: st.last_error,
        });
    }
    Ok(rows)
}

/// Resolves a device by the name `device list` shows (when exactly one device has it) or by
/// an id prefix of 4+ hex digits; returns its full id.
pub fn resolve_device(rows: &[DeviceRow], prefix: &str) -> Result<String, AppError> {
    let by_name: Vec<&DeviceRow> = rows
        .iter()
        .filter(|d| d.name.eq_ignore_ascii_case(prefix.trim()))
        .collect();
    match by_name.len() {
        1 => return Ok(by_name[0].id.clone()),
        0 => {}
        n => {
            return Err(AppError::hint(
                format!("{n} devices are named '{prefix}'"),
                "give the device's id (a prefix of 4+ hex digits) from `kith device list`",
            ))
        }
    }
    let p = prefix.trim().to_lowercase();
    if p.len() < 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::hint(
            format!("no device is named '{prefix}', and it is not a device id"),
            "use a name or at least 4 hex digits of an id from `kith device list`",
        ));
    }
    let hits: Vec<&DeviceRow> = rows.iter().filter(|d| d.id.starts_with(&p)).collect();
    match hits.len() {
        1 => Ok(hits[0].id.clone()),
        0 => Err(AppError::hint(
            format!("no device matches '{prefix}'"),
            "see `kith device list`",
        )),
        n => Err(AppError::hint(
            format!("'{prefix}' matches {n} devices"),
            "give more digits of the id",
        )),
    }
}

impl App {
    /// This device's id (creating its key on first use).
    pub fn my_device_id(&self) -> Result<String, AppError> {
        Ok(net::id_hex(&net::device_key(&self.home)?.public()))
    }

    /// Renames a device (`device`: a name or id prefix; default this one). Returns its id and
    /// the new name.
    pub fn rename_device(
        &self,
        name: &str,
        device: Option<&str>,
    ) -> Result<(String, String), AppError> {
        let name = device_name(Some(name.to_string()))?;
        let me = self.my_device_id()?;
        let target = match device {
            Some(p) => resolve_device(&device_rows(self)?, p)?,
            None => me.clone(),
        };
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w.load_or_create(DEVICES_DOC)?;
            if target == me {
                devices::add_device(&mut l.doc, &me, &name, &me, now).map_err(am_err)?;
            }
            devices::rename_device(&mut l.doc, &target, &name).map_err(am_err)?;
            w.save(l)?;
            Ok::<_, AppError>(())
        })?;
        Ok((target, name))
    }

    /// Removes a device from the membership: every device refuses it once they sync. Not the
    /// device this runs on. Returns the removed id.
    pub fn remove_device(&self, device: &str) -> Result<String, AppError> {
        let target = resolve_device(&device_rows(self)?, device)?;
        let me = self.my_device_id()?;
        if target == me {
            return Err(AppError::hint(
                "this is the device you are on",
                "remove it from another of your devices",
            ));
        }
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w.load_or_create(DEVICES_DOC)?;
            devices::remove_device(&mut l.doc, &target, &me, now).map_err(am_err)?;
            w.save(l)?;
            Ok::<_, AppError>(())
        })?;
        Ok(target)
    }
}
