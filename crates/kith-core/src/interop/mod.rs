//! Interop with other contact tools: format detection, vCard (2.1, 3.0, 4.0) and CSV (Google
//! Contacts, LinkedIn Connections) parsing into one neutral record, [`CardData`], and vCard export.
//!
//! Invariant: everything here is sans-IO and incremental. Readers are fed one physical line at a
//! time and hold at most one card (or one CSV record) in memory, so memory is bounded by the
//! largest card, never by the file. Nothing a file contains is dropped silently: a vCard property
//! kith does not model lands in [`CardData::unknown`] verbatim and is written back on export.

pub mod csv;
pub mod dedup;
pub mod map;
pub mod vcard;

use serde::{Deserialize, Serialize};

pub use csv::{CsvError, CsvErrorKind, CsvImporter, CsvKind, CsvReader, CsvRecord, CsvRow};
pub use vcard::{
    write_vcard, CardError, CardErrorKind, Property, RawCard, VCardReader, Version, WriteVersion,
};

/// An import format, as recognised by [`detect`] from the first bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One or many vCards, any of versions 2.1, 3.0 and 4.0.
    VCard,
    /// A Google Contacts CSV export (current "Labels" or older "Group Membership" layout).
    GoogleCsv,
    /// LinkedIn's `Connections.csv`, possibly preceded by its "Notes:" preamble.
    LinkedInCsv,
    /// kith's own JSON export (`kith export --format json`): a file that starts with `{`.
    KithJson,
}

/// Why [`detect`] could not recognise a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    #[error("the file is empty (or holds only blank lines); nothing to import")]
    Empty,
    #[error(
        "the file looks binary (NUL byte at offset {offset}); expected a vCard (.vcf) or CSV file"
    )]
    Binary { offset: usize },
    #[error("the file is UTF-16 encoded; re-save it as UTF-8 and import again")]
    Utf16,
    #[error("the file is not UTF-8 text (invalid byte at offset {offset}) and is not a vCard, whose CHARSET parameters could say how to decode it")]
    NotUtf8 { offset: usize },
    #[error("unrecognised format: the first line is {first_line:?}; expected BEGIN:VCARD or a Google Contacts / LinkedIn Connections CSV header")]
    Unknown { first_line: String },
}

/// How many leading bytes [`detect`] wants to see; passing more is harmless.
pub const DETECT_PREFIX_LEN: usize = 16 * 1024;

/// Recognises the format of a file from its first bytes (ideally [`DETECT_PREFIX_LEN`] of them,
/// or the whole file if shorter). A prefix may end in the middle of a line or character.
pub fn detect(first_bytes: &[u8]) -> Result<Format, DetectError> {
    if first_bytes.starts_with(&[0xFF, 0xFE]) || first_bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(DetectError::Utf16);
    }
    let bytes = first_bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(first_bytes);
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(DetectError::Binary { offset });
    }
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .peekable();
    let Some(first) = lines.peek().copied() else {
        return Err(DetectError::Empty);
    };
    if first.trim_ascii().eq_ignore_ascii_case(b"BEGIN:VCARD") {
        return Ok(Format::VCard);
    }
    // A JSON object: kith's own export (the importer checks `kith_export` and the shape).
    if first.trim_ascii_start().starts_with(b"{") {
        return Ok(Format::KithJson);
    }
    // CSV exports are UTF-8; tolerate only a character cut off by the end of the prefix.
    if let Err(e) = std::str::from_utf8(bytes) {
        if e.error_len().is_some() {
            return Err(DetectError::NotUtf8 {
                offset: e.valid_up_to() + (first_bytes.len() - bytes.len()),
            });
        }
    }
    for line in lines.take(20) {
        let line = String::from_utf8_lossy(line);
        let headers: Vec<String> = line
            .split(',')
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect();
        let has = |name: &str| headers.iter().any(|h| h == name);
        if has("First Name") && has("Last Name") && has("Connected On") {
            return Ok(Format::LinkedInCsv);
        }
        let google_name = has("First Name") || has("Given Name") || has("Name");
        let google_marker = headers.iter().any(|h| {
            h == "Labels"
                || h == "Group Membership"
                || (h.starts_with("E-mail ") || h.starts_with("Phone ")) && h.contains(" - ")
        });
        if google_name && google_marker {
            return Ok(Format::GoogleCsv);
        }
    }
    let first_line: String = String::from_utf8_lossy(first).chars().take(80).collect();
    Err(DetectError::Unknown { first_line })
}

/// One contact in a tool-neutral shape: what kith models, plus the vCard properties it does not.
///
/// Invariant: for a `CardData` produced by [`CardData::from_raw`] or the CSV importer,
/// parsing the output of [`write_vcard`] gives an equal `CardData` (export then import is lossless).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardData {
    pub uid: Option<String>,
    /// FN; when the source has none, derived from the structured name.
    pub formatted_name: Option<String>,
    pub name: Option<StructuredName>,
    pub nicknames: Vec<String>,
    pub emails: Vec<Labelled>,
    pub phones: Vec<Labelled>,
    pub addresses: Vec<Address>,
    pub urls: Vec<Labelled>,
    pub orgs: Vec<Org>,
    pub titles: Vec<String>,
    pub birthday: Option<PartialDate>,
    pub anniversary: Option<PartialDate>,
    /// CATEGORIES values, in order; they become kith tags.
    pub categories: Vec<String>,
    /// All NOTE properties, joined by a blank line.
    pub note: Option<String>,
    pub photo: Option<Photo>,
    /// Every property kith does not model, verbatim (after unfolding and charset decoding),
    /// in file order. Includes Apple's `itemN.X-ABLabel` even when its label was applied.
    pub unknown: Vec<Property>,
}

/// N: the structured name. Each component is one string (a list keeps its commas).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructuredName {
    pub family: String,
    pub given: String,
    pub additional: String,
    pub prefixes: String,
    pub suffixes: String,
}

/// An email, phone or URL with its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labelled {
    /// TYPE values, lowercased, without `pref` and `internet` (e.g. `["home", "voice"]`).
    pub types: Vec<String>,
    /// Preference 1..=100 (4.0 PREF, or 1 for a 2.1/3.0 `pref` type); lower is preferred.
    pub pref: Option<u8>,
    /// A free-form label such as Apple's `X-ABLabel` ("Book club"; `_$!<Other>!$_` becomes "Other").
    pub label: Option<String>,
    /// The vCard group (`item1`), kept so export writes the label back next to its property.
    pub group: Option<String>,
    pub value: String,
}

/// ADR: a structured postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub types: Vec<String>,
    pub pref: Option<u8>,
    pub label: Option<String>,
    pub group: Option<String>,
    pub po_box: String,
    pub extended: String,
    pub street: String,
    pub locality: String,
    pub region: String,
    pub postcode: String,
    pub country: String,
}

/// ORG: an organisation name and its units, outermost first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub name: String,
    pub units: Vec<String>,
}

/// A calendar date whose year may be unknown (`--MM-DD` birthdays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialDate {
    pub year: Option<i32>,
    pub month: u8,
    pub day: u8,
}

impl PartialDate {
    /// Parses the date forms found in vCards and CSV exports: `YYYYMMDD`, `YYYY-MM-DD`, `--MMDD`,
    /// `--MM-DD`, each optionally followed by a `T...` time, which is ignored.
    pub fn parse(s: &str) -> Option<PartialDate> {
        let s = s.trim();
        let date = s.split(['T', 't']).next().unwrap_or(s);
        let (year, rest) = if let Some(rest) = date.strip_prefix("--") {
            (None, rest)
        } else {
            let digits = date.get(..4)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let rest = &date[4..];
            (
                Some(digits.parse().ok()?),
                rest.strip_prefix('-').unwrap_or(rest),
            )
        };
        let (m, d) = match rest.len() {
            4 => (rest.get(..2)?, rest.get(2..)?),
            5 if rest.as_bytes()[2] == b'-' => (rest.get(..2)?, rest.get(3..)?),
            _ => return None,
        };
        if !(m.bytes().chain(d.bytes())).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let date = PartialDate {
            year,
            month: m.parse().ok()?,
            day: d.parse().ok()?,
        };
        date.is_valid().then_some(date)
    }

    fn is_valid(&self) -> bool {
        let max = match self.month {
            2 => match self.year {
                Some(y) if !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) => 28,
                _ => 29,
            },
            4 | 6 | 9 | 11 => 30,
            1..=12 => 31,
            _ => return false,
        };
        (1..=max).contains(&self.day)
    }
}

impl std::fmt::Display for PartialDate {
    /// `YYYY-MM-DD`, or `--MM-DD` without a year.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "--{:02}-{:02}", self.month, self.day),
        }
    }
}

/// PHOTO: inline image bytes or a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Photo {
    Inline {
        /// e.g. `image/jpeg`; `None` when the card did not say.
        mime: Option<String>,
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
    },
    Uri(String),
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

impl CardData {
    /// The name to show: FN, else given + family, else the first org or email.
    pub fn display_name(&self) -> Option<String> {
        self.formatted_name
            .clone()
            .or_else(|| derived_name(self.name.as_ref()))
            .or_else(|| self.orgs.first().map(|o| o.name.clone()))
            .or_else(|| self.emails.first().map(|e| e.value.clone()))
    }

    /// Gives every label that has no vCard group a fresh `itemN` group and an `X-ABLabel`
    /// property in [`CardData::unknown`], the shape a labelled property has after a vCard import.
    /// Importers call it so that export followed by import is lossless.
    pub fn normalize_labels(&mut self) {
        let mut used: Vec<String> = self
            .unknown
            .iter()
            .filter_map(|p| p.group.clone())
            .chain(self.emails.iter().filter_map(|l| l.group.clone()))
            .chain(self.phones.iter().filter_map(|l| l.group.clone()))
            .chain(self.urls.iter().filter_map(|l| l.group.clone()))
            .chain(self.addresses.iter().filter_map(|a| a.group.clone()))
            .map(|g| g.to_ascii_lowercase())
            .collect();
        let mut next = 1;
        let mut fresh = |used: &mut Vec<String>| loop {
            let g = format!("item{next}");
            next += 1;
            if !used.contains(&g) {
                used.push(g.clone());
                return g;
            }
        };
        let mut new_props = Vec::new();
        let slots = self
            .emails
            .iter_mut()
            .chain(self.phones.iter_mut())
            .chain(self.urls.iter_mut())
            .map(|l| (&mut l.group, &l.label))
            .chain(self.addresses.iter_mut().map(|a| (&mut a.group, &a.label)));
        for (group, label) in slots {
            if let (None, Some(label)) = (group.as_ref(), label) {
                let g = fresh(&mut used);
                new_props.push(Property {
                    group: Some(g.clone()),
                    name: "X-ABLABEL".into(),
                    params: Vec::new(),
                    value: vcard::escape_text(label),
                });
                *group = Some(g);
            }
        }
        self.unknown.extend(new_props);
    }
}

fn derived_name(n: Option<&StructuredName>) -> Option<String> {
    let n = n?;
    let parts: Vec<&str> = [n.given.as_str(), n.family.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests;
