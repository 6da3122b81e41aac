//! CSV: an incremental RFC 4180 record reader, and the header-driven mapping of Google Contacts
//! and LinkedIn `Connections.csv` exports to [`CardData`].
//!
//! Invariant: the reader holds at most one record (bounded by [`MAX_RECORD_BYTES`]); a record may
//! span lines (quoted line breaks) and is reported with the line it starts on. Columns the mapping
//! does not know are kept as `X-CSV;X-COLUMN="<header>":<value>` properties in
//! [`CardData::unknown`], so no cell is dropped.

use super::vcard::escape_text;
use super::{Address, CardData, Labelled, Org, PartialDate, Property, StructuredName};

/// The largest record the reader accepts.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One CSV record and the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A CSV record that could not be read or mapped, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct CsvError {
    pub line: usize,
    pub kind: CsvErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvErrorKind {
    #[error("quoted field never closed; the file looks truncated or has a stray '\"'")]
    UnterminatedQuote,
    #[error("record is not valid UTF-8; re-export the file as UTF-8")]
    InvalidUtf8,
    #[error("record longer than {limit} bytes")]
    RecordTooLarge { limit: usize },
    #[error("no header line found (expected one starting with {expected:?})")]
    MissingHeader { expected: &'static str },
    #[error("column {column:?}: {value:?} is not a date (expected e.g. \"21 Nov 2024\" or \"2024-11-21\")")]
    BadDate { column: String, value: String },
}

/// Push-based RFC 4180 reader: quoted fields with commas, doubled quotes and line breaks;
/// CRLF or LF; a UTF-8 BOM is skipped. Blank lines between records are ignored.
#[derive(Debug, Default)]
pub struct CsvReader {
    line_no: usize,
    start: usize,
    fields: Vec<String>,
    cur: Vec<u8>,
    in_quotes: bool,
    quote_closed: bool,
    size: usize,
}

impl CsvReader {
    pub fn new() -> Self {
        Self::default()
    }

    fn reset(&mut self) {
        self.fields.clear();
        self.cur.clear();
        self.in_quotes = false;
        self.quote_closed = false;
        self.size = 0;
    }

    fn end_field(&mut self) -> Result<(), CsvErrorKind> {
        let bytes = std::mem::take(&mut self.cur);
        let s = String::from_utf8(bytes).map_err(|_| CsvErrorKind::InvalidUtf8)?;
        self.fields.push(s);
        self.quote_closed = false;
        Ok(())
    }

    /// Feeds one physical line; returns a record when this line completes one.
    pub fn push_line(&mut self, line: &[u8]) -> Option<Result<CsvRow, CsvError>> {
        self.line_no += 1;
        let mut line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.line_no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if !self.in_quotes {
            self.start = self.line_no;
            if line.is_empty() {
                return None;
            }
        }
        self.size += line.len() + 1;
        if self.size > MAX_RECORD_BYTES {
            let line = self.start;
            self.reset();
            return Some(Err(CsvError {
                line,
                kind: CsvErrorKind::RecordTooLarge {
                    limit: MAX_RECORD_BYTES,
                },
            }));
        }
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if self.in_quotes {
                if b == b'"' {
                    if line.get(i + 1) == Some(&b'"') {
                        self.cur.push(b'"');
                        i += 1;
                    } else {
                        self.in_quotes = false;
                        self.quote_closed = true;
                    }
                } else {
                    self.cur.push(b);
                }
            } else if b == b',' {
                if let Err(kind) = self.end_field() {
                    return Some(Err(self.fail(kind)));
                }
            } else if b == b'"' && self.cur.is_empty() && !self.quote_closed {
                self.in_quotes = true;
            } else {
                // Lenient: a stray quote or text after a closing quote is kept as text.
                self.cur.push(b);
            }
            i += 1;
        }
        if self.in_quotes {
            self.cur.push(b'\n');
            return None;
        }
        if let Err(kind) = self.end_field() {
            return Some(Err(self.fail(kind)));
        }
        let fields = std::mem::take(&mut self.fields);
        self.reset();
        Some(Ok(CsvRow {
            line: self.start,
            fields,
        }))
    }

    fn fail(&mut self, kind: CsvErrorKind) -> CsvError {
        let line = self.start;
        self.reset();
        CsvError { line, kind }
    }

    /// Call at end of input: reports a quoted field left open.
    pub fn finish(&mut self) -> Option<CsvError> {
        if self.in_quotes {
            Some(self.fail(CsvErrorKind::UnterminatedQuote))
        } else {
            None
        }
    }
}

/// Which CSV export a [`CsvImporter`] maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    Google,
    LinkedIn,
}

/// One contact from a CSV export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRecord {
    /// The line its record starts on.
    pub line: usize,
    pub card: CardData,
    /// LinkedIn's "Connected On" date.
    pub connected_on: Option<PartialDate>,
}

/// Push-based importer: finds the header (skipping LinkedIn's "Notes:" preamble) and maps
/// each following record to a [`CsvRecord`].
#[derive(Debug)]
pub struct CsvImporter {
    kind: CsvKind,
    reader: CsvReader,
    header: Option<Vec<String>>,
    header_error_reported: bool,
    last_line: usize,
}

impl CsvImporter {
    pub fn new(kind: CsvKind) -> Self {
        CsvImporter {
            kind,
            reader: CsvReader::new(),
            header: None,
            header_error_reported: false,
            last_line: 0,
        }
    }

    /// Feeds one physical line; returns a contact (or an error naming the line) when it
    /// completes a data record.
    pub fn push_line(&mut self, line: &[u8]) -> Option<Result<CsvRecord, CsvError>> {
        self.last_line += 1;
        let row = match self.reader.push_line(line)? {
            Ok(row) => row,
            Err(e) => return Some(Err(e)),
        };
        let Some(header) = &self.header else {
            let first = row.fields.first().map(|f| f.trim()).unwrap_or("");
            let is_header = match self.kind {
                CsvKind::LinkedIn => first == "First Name",
                CsvKind::Google => row
                    .fields
                    .iter()
                    .any(|f| matches!(f.trim(), "First Name" | "Given Name" | "Name")),
            };
            if is_header {
                self.header = Some(row.fields.iter().map(|f| f.trim().to_string()).collect());
                return None;
            }
            return match self.kind {
                // LinkedIn's preamble ("Notes:", a quoted paragraph, a blank line) precedes it.
                CsvKind::LinkedIn => None,
                CsvKind::Google if self.header_error_reported => None,
                CsvKind::Google => {
                    self.header_error_reported = true;
                    Some(Err(CsvError {
                        line: row.line,
                        kind: CsvErrorKind::MissingHeader {
                            expected: "First Name",
                        },
                    }))
                }
            };
        };
        if row.fields.iter().all(|f| f.trim().is_empty()) {
            return None;
        }
        Some(match self.kind {
            CsvKind::Google => Ok(map_google(header, &row)),
            CsvKind::LinkedIn => map_linkedin(header, &row),
        })
    }

    /// Call at end of input.
    pub fn finish(&mut self) -> Option<CsvError> {
        if let Some(e) = self.reader.finish() {
            return Some(e);
        }
        if self.header.is_none() && !self.header_error_reported {
            return Some(CsvError {
                line: self.last_line,
                kind: CsvErrorKind::MissingHeader {
                    expected: "First Name",
                },
            });
        }
        None
    }
}

fn unknown_column(header: &str, value: &str) -> Property {
    Property {
        group: None,
        name: "X-CSV".into(),
        params: vec![("X-COLUMN".into(), vec![header.to_string()])],
        value: escape_text(value),
    }
}

/// Google's type labels: "* " marks the primary entry; known words become vCard types and
/// anything else ("Gym", "Other") a free-form label.
fn google_label(raw: &str) -> (Vec<String>, Option<u8>, Option<String>) {
    let raw = raw.trim();
    let (pref, text) = match raw.strip_prefix('*') {
        Some(rest) => (Some(1), rest.trim()),
        None => (None, raw),
    };
    let types: &[&str] = match text.to_ascii_lowercase().as_str() {
        "" => &[],
        "home" => &["home"],
        "work" => &["work"],
        "mobile" => &["cell"],
        "home fax" => &["home", "fax"],
        "work fax" => &["work", "fax"],
        "pager" => &["pager"],
        _ => return (Vec::new(), pref, Some(text.to_string())),
    };
    (types.iter().map(|t| t.to_string()).collect(), pref, None)
}

fn split_multi(v: &str) -> impl Iterator<Item = &str> {
    v.split(" ::: ").map(str::trim).filter(|s| !s.is_empty())
}

/// `"E-mail 1 - Value"` -> `("E-mail", 1, "Value")`; `"Organization Name"` -> `("Organization", 1, "Name")`.
fn numbered(header: &str) -> Option<(&str, u32, &str)> {
    if let Some((left, field)) = header.split_once(" - ") {
        let (kind, n) = left.rsplit_once(' ')?;
        return Some((kind, n.parse().ok()?, field));
    }
    let field = header.strip_prefix("Organization ")?;
    Some(("Organization", 1, field))
}

#[derive(Default)]
struct Slot<'a> {
    label: &'a str,
    value: &'a str,
    parts: Vec<(&'a str, &'a str)>,
}

fn map_google(header: &[String], row: &CsvRow) -> CsvRecord {
    let mut card = CardData::default();
    let mut name = StructuredName::default();
    let mut slots: Vec<((&str, u32), Slot)> = Vec::new();
    for (h, v) in header.iter().zip(&row.fields) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match h.as_str() {
            "Name" => card.formatted_name = Some(v.to_string()),
            "First Name" | "Given Name" => name.given = v.to_string(),
            "Middle Name" | "Additional Name" => name.additional = v.to_string(),
            "Last Name" | "Family Name" => name.family = v.to_string(),
            "Name Prefix" => name.prefixes = v.to_string(),
            "Name Suffix" => name.suffixes = v.to_string(),
            "Nickname" => card.nicknames.push(v.to_string()),
            "Notes" => card.note = Some(v.replace("\r\n", "\n")),
            "Birthday" if PartialDate::parse(v).is_some() => {
                card.birthday = PartialDate::parse(v);
            }
            "Labels" | "Group Membership" => {
                for l in split_multi(v) {
                    let l = l.trim_start_matches('*').trim();
                    let key: String = l.chars().filter(|c| !c.is_whitespace()).collect();
                    if !key.eq_ignore_ascii_case("mycontacts")
                        && !key.eq_ignore_ascii_case("SystemGroup:MyContacts")
                    {
                        card.categories.push(l.to_string());
                    }
                }
            }
            _ => match numbered(h) {
                Some((kind, n, field))
                    if matches!(
                        kind,
                        "E-mail" | "Phone" | "Website" | "Address" | "Organization"
                    ) =>
                {
                    let idx = match slots.iter().position(|(k, _)| *k == (kind, n)) {
                        Some(i) => i,
                        None => {
                            slots.push(((kind, n), Slot::default()));
                            slots.len() - 1
                        }
                    };
                    let slot = &mut slots[idx].1;
                    match field {
                        "Type" | "Label" => slot.label = v,
                        "Value" => slot.value = v,
                        _ => slot.parts.push((field, v)),
                    }
                }
                _ => card.unknown.push(unknown_column(h, v)),
            },
        }
    }
    for ((kind, _), slot) in slots {
        let (types, pref, label) = google_label(slot.label);
        let part = |name: &str| {
            slot.parts
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let make = |value: &str| Labelled {
            types: types.clone(),
            pref,
            label: label.clone(),
            group: None,
            value: value.to_string(),
        };
        match kind {
            "E-mail" => card.emails.extend(split_multi(slot.value).map(make)),
            "Phone" => card.phones.extend(split_multi(slot.value).map(make)),
            "Website" => card.urls.extend(split_multi(slot.value).map(make)),
            "Address" => {
                let mut a = Address {
                    types: types.clone(),
                    pref,
                    label: label.clone(),
                    group: None,
                    po_box: part("PO Box"),
                    extended: part("Extended Address"),
                    street: part("Street"),
                    locality: part("City"),
                    region: part("Region"),
                    postcode: part("Postal Code"),
                    country: part("Country"),
                };
                let structured = [&a.po_box, &a.extended, &a.street, &a.locality]
                    .iter()
                    .chain([&a.region, &a.postcode, &a.country].iter())
                    .any(|s| !s.is_empty());
                if !structured {
                    a.street = part("Formatted");
                }
                if !a.street.is_empty() || structured {
                    card.addresses.push(a);
                }
            }
            "Organization" => {
                let org_name = part("Name");
                let dept = part("Department");
                if !org_name.is_empty() || !dept.is_empty() {
                    card.orgs.push(Org {
                        name: org_name,
                        units: if dept.is_empty() { vec![] } else { vec![dept] },
                    });
                }
                let title = part("Title");
                if !title.is_empty() {
                    card.titles.push(title);
                }
            }
            _ => {}
        }
    }
    if name != StructuredName::default() {
        card.name = Some(name);
    }
    finish_card(&mut card);
    CsvRecord {
        line: row.line,
        card,
        connected_on: None,
    }
}

fn finish_card(card: &mut CardData) {
    if card.formatted_name.is_none() {
        card.formatted_name = super::derived_name(card.name.as_ref());
    }
    card.normalize_labels();
}

/// LinkedIn dates: `21 Nov 2024` (also accepts ISO `2024-11-21`).
fn parse_linkedin_date(s: &str) -> Option<PartialDate> {
    if let Some(d) = PartialDate::parse(s) {
        return Some(d);
    }
    let mut it = s.split_whitespace();
    let day: u8 = it.next()?.parse().ok()?;
    let month = it.next()?.to_ascii_lowercase();
    let year: i32 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let m = MONTHS.iter().position(|m| month.starts_with(m))? as u8 + 1;
    PartialDate::parse(&format!("{year:04}-{m:02}-{day:02}"))
}

fn map_linkedin(header: &[String], row: &CsvRow) -> Result<CsvRecord, CsvError> {
    let mut card = CardData::default();
    let mut name = StructuredName::default();
    let mut connected_on = None;
    let mut org = None;
    for (h, v) in header.iter().zip(&row.fields) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match h.as_str() {
            "First Name" => name.given = v.to_string(),
            "Last Name" => name.family = v.to_string(),
            "URL" => card.urls.push(Labelled {
                label: Some("LinkedIn".into()),
                value: v.to_string(),
                ..Labelled::default()
            }),
            "Email Address" => card.emails.push(Labelled {
                value: v.to_string(),
                ..Labelled::default()
            }),
            "Company" => org = Some(v.to_string()),
            "Position" => card.titles.push(v.to_string()),
            "Connected On" => {
                connected_on = Some(parse_linkedin_date(v).ok_or_else(|| CsvError {
                    line: row.line,
                    kind: CsvErrorKind::BadDate {
                        column: h.clone(),
                        value: v.to_string(),
                    },
                })?);
            }
            _ => card.unknown.push(unknown_column(h, v)),
        }
    }
    if let Some(name) = org {
        card.orgs.push(Org {
            name,
            units: Vec::new(),
        });
    }
    if name != StructuredName::default() {
        card.name = Some(name);
    }
    finish_card(&mut card);
    Ok(CsvRecord {
        line: row.line,
        card,
        connected_on,
    })
}
