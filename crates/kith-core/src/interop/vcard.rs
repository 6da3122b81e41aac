//! vCard 2.1 / 3.0 / 4.0: an incremental, push-based reader producing [`RawCard`]s, the mapping
//! of a raw card to [`CardData`], and the vCard 4.0 (or 3.0) writer.
//!
//! Invariant: the reader holds at most one card (bounded by [`MAX_CARD_BYTES`], each logical line
//! by [`MAX_LINE_BYTES`]) and turns every value into UTF-8 text with its transport encoding
//! removed (quoted-printable and CHARSET decoded, base64 unwrapped), but otherwise verbatim:
//! escapes are kept, so an unmodelled property is written back exactly as it was read.
//!
//! Why hand-written: we measured `calcard` 0.3 (the most complete Rust vCard crate) against the
//! fixtures. It parses from a `&str` holding the whole input (memory bounded by the file, and raw
//! ISO-8859-1 bytes become U+FFFD before CHARSET can be applied), accepts a line without a colon
//! and a card without END:VCARD silently, reports no line numbers, truncates `BDAY:--04-12` to
//! `--4`, and pulls in chrono, chrono-tz and mail-parser. Its QP/charset decoding was right.
//! The format's grammar is small; what matters here is incrementality, line-numbered errors and
//! verbatim preservation, which a focused parser gives directly.

use std::borrow::Cow;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Address, CardData, Labelled, Org, PartialDate, Photo, StructuredName};

/// The longest logical (unfolded) line the reader accepts.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// The largest card (sum of its logical lines) the reader accepts.
pub const MAX_CARD_BYTES: usize = 16 * 1024 * 1024;

/// The vCard version a card declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V2_1,
    V3_0,
    V4_0,
}

/// The version [`write_vcard`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteVersion {
    V3_0,
    #[default]
    V4_0,
}

/// One content line: `[group.]NAME[;PARAM=v1,v2...]:value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// The group as written (`item1`), if any.
    pub group: Option<String>,
    /// The property name, uppercased.
    pub name: String,
    /// Parameters in order; names uppercased, values unquoted. A 2.1 bare parameter (`TEL;HOME`)
    /// is stored as `TYPE=HOME` (or `ENCODING=...` for an encoding name).
    pub params: Vec<(String, Vec<String>)>,
    /// The value as UTF-8, escapes kept, transport encoding removed. A raw line break produced by
    /// quoted-printable decoding is stored as the escape `\n`.
    pub value: String,
}

impl Property {
    /// All values of the parameters called `name` (case-insensitive).
    pub fn param_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
    }

    fn has_param(&self, name: &str) -> bool {
        self.params
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

/// One card as read: its version and its properties in file order (without BEGIN, VERSION, END).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCard {
    /// The line number (1-based) of its BEGIN:VCARD.
    pub line: usize,
    pub version: Version,
    pub props: Vec<Property>,
}

/// A card that could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct CardError {
    /// The 1-based line number of the offending line.
    pub line: usize,
    pub kind: CardErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardErrorKind {
    #[error("property has no ':' between its name and value; the card is skipped")]
    MissingColon,
    #[error("invalid property name {0:?}; the card is skipped")]
    BadName(String),
    #[error("text outside BEGIN:VCARD ... END:VCARD: {0:?}")]
    OutsideCard(String),
    #[error("END:VCARD without a matching BEGIN:VCARD")]
    EndWithoutBegin,
    #[error("BEGIN:VCARD inside the card begun on line {outer}, which has no END:VCARD; that card is skipped")]
    NestedBegin { outer: usize },
    #[error("the card begun here has no END:VCARD; the file looks truncated")]
    Truncated,
    #[error("unsupported VERSION {0:?}; kith reads vCard 2.1, 3.0 and 4.0")]
    UnsupportedVersion(String),
    #[error("unknown CHARSET {0:?}; the card is skipped")]
    UnknownCharset(String),
    #[error("value is not valid UTF-8, which vCard 3.0 and 4.0 require, and no CHARSET says otherwise; re-export the file as UTF-8")]
    InvalidUtf8,
    #[error("logical line longer than {limit} bytes; the card is skipped")]
    LineTooLong { limit: usize },
    #[error("card larger than {limit} bytes; it is skipped")]
    CardTooLarge { limit: usize },
}

/// A logical line being collected: unfolded bytes plus where fold whitespace sits, because
/// 2.1 keeps that whitespace and 3.0/4.0 drop it, and the version may not be known yet.
#[derive(Debug)]
struct LogicalLine {
    line: usize,
    bytes: Vec<u8>,
    folds: Vec<usize>,
    quoted_printable: bool,
}

impl LogicalLine {
    fn new(line: usize, bytes: &[u8]) -> Self {
        let head_end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_uppercase();
        LogicalLine {
            line,
            bytes: bytes.to_vec(),
            folds: Vec::new(),
            quoted_printable: head.contains("QUOTED-PRINTABLE"),
        }
    }
}

#[derive(Debug)]
struct CardBuf {
    begin: usize,
    lines: Vec<LogicalLine>,
    pending: Option<LogicalLine>,
    size: usize,
}

#[derive(Debug)]
enum State {
    Outside,
    InCard(CardBuf),
    /// After an error inside a card: ignore lines up to its END:VCARD.
    Skipping,
}

/// Push-based vCard reader: feed it physical lines, get back complete cards.
///
/// Invariant: holds at most one card's lines. Callers should read lines with a bound (e.g.
/// [`MAX_LINE_BYTES`] + 2) since a longer line is rejected anyway.
#[derive(Debug)]
pub struct VCardReader {
    line_no: usize,
    state: State,
}

impl Default for VCardReader {
    fn default() -> Self {
        Self::new()
    }
}

fn is_marker(line: &[u8], marker: &[u8]) -> bool {
    line.trim_ascii().eq_ignore_ascii_case(marker)
}

impl VCardReader {
    pub fn new() -> Self {
        VCardReader {
            line_no: 0,
            state: State::Outside,
        }
    }

    /// Feeds one physical line (with or without its `\n` / `\r\n`). Returns a card, or an error
    /// naming the line, when this line completes one; reading may go on after an error.
    pub fn push_line(&mut self, line: &[u8]) -> Option<Result<RawCard, CardError>> {
        self.line_no += 1;
        let n = self.line_no;
        let mut line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if n == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let err = |kind| Some(Err(CardError { line: n, kind }));
        if line.len() > MAX_LINE_BYTES {
            if matches!(self.state, State::InCard(_)) {
                self.state = State::Skipping;
            }
            return err(CardErrorKind::LineTooLong {
                limit: MAX_LINE_BYTES,
            });
        }
        let is_begin = is_marker(line, b"BEGIN:VCARD");
        let is_end = is_marker(line, b"END:VCARD");
        match &mut self.state {
            State::Outside => {
                if is_begin {
                    self.state = State::InCard(CardBuf {
                        begin: n,
                        lines: Vec::new(),
                        pending: None,
                        size: 0,
                    });
                    None
                } else if line.iter().all(u8::is_ascii_whitespace) {
                    None
                } else if is_end {
                    err(CardErrorKind::EndWithoutBegin)
                } else {
                    let text: String = String::from_utf8_lossy(line).chars().take(60).collect();
                    err(CardErrorKind::OutsideCard(text))
                }
            }
            State::Skipping => {
                if is_end {
                    self.state = State::Outside;
                } else if is_begin {
                    self.state = State::InCard(CardBuf {
                        begin: n,
                        lines: Vec::new(),
                        pending: None,
                        size: 0,
                    });
                }
                None
            }
            State::InCard(buf) => {
                if let Some(p) = buf.pending.as_mut() {
                    let qp_soft_break = p.quoted_printable && p.bytes.last() == Some(&b'=');
                    let folded = matches!(line.first(), Some(b' ' | b'\t'));
                    if (qp_soft_break && !is_end) || folded {
                        if qp_soft_break {
                            p.bytes.pop();
                        } else {
                            p.folds.push(p.bytes.len());
                        }
                        p.bytes.extend_from_slice(line);
                        if p.bytes.len() > MAX_LINE_BYTES {
                            let line = p.line;
                            self.state = State::Skipping;
                            return Some(Err(CardError {
                                line,
                                kind: CardErrorKind::LineTooLong {
                                    limit: MAX_LINE_BYTES,
                                },
                            }));
                        }
                        return None;
                    }
                }
                if let Some(p) = buf.pending.take() {
                    buf.size += p.bytes.len();
                    buf.lines.push(p);
                }
                if buf.size > MAX_CARD_BYTES {
                    let begin = buf.begin;
                    self.state = State::Skipping;
                    return Some(Err(CardError {
                        line: begin,
                        kind: CardErrorKind::CardTooLarge {
                            limit: MAX_CARD_BYTES,
                        },
                    }));
                }
                if is_end {
                    let State::InCard(buf) = std::mem::replace(&mut self.state, State::Outside)
                    else {
                        unreachable!("matched InCard above")
                    };
                    return Some(parse_card(buf.begin, buf.lines));
                }
                if is_begin {
                    let outer = buf.begin;
                    self.state = State::InCard(CardBuf {
                        begin: n,
                        lines: Vec::new(),
                        pending: None,
                        size: 0,
                    });
                    return err(CardErrorKind::NestedBegin { outer });
                }
                if !line.iter().all(u8::is_ascii_whitespace) {
                    buf.pending = Some(LogicalLine::new(n, line));
                }
                None
            }
        }
    }

    /// Call at end of input: reports a card whose END:VCARD never came.
    pub fn finish(&mut self) -> Option<Result<RawCard, CardError>> {
        match std::mem::replace(&mut self.state, State::Outside) {
            State::InCard(buf) => Some(Err(CardError {
                line: buf.begin,
                kind: CardErrorKind::Truncated,
            })),
            State::Outside | State::Skipping => None,
        }
    }
}

fn parse_card(begin: usize, lines: Vec<LogicalLine>) -> Result<RawCard, CardError> {
    // VERSION decides how folds unfold, so find it first.
    let mut version = None;
    for l in &lines {
        let head: Vec<u8> = l.bytes.iter().take(8).copied().collect();
        if head.eq_ignore_ascii_case(b"VERSION:") {
            let v = String::from_utf8_lossy(&l.bytes[8..]);
            let v = v.trim();
            version = Some(match v {
                "2.1" => Version::V2_1,
                "3.0" => Version::V3_0,
                "4.0" => Version::V4_0,
                _ => {
                    return Err(CardError {
                        line: l.line,
                        kind: CardErrorKind::UnsupportedVersion(v.to_string()),
                    })
                }
            });
            break;
        }
    }
    // Lenient: some exporters omit VERSION; 3.0 rules are the common ground.
    let version = version.unwrap_or(Version::V3_0);
    let mut props = Vec::with_capacity(lines.len());
    for mut l in lines {
        if version != Version::V2_1 {
            for &at in l.folds.iter().rev() {
                l.bytes.remove(at);
            }
        }
        let prop =
            parse_property(&l.bytes, version).map_err(|kind| CardError { line: l.line, kind })?;
        if prop.group.is_none() && prop.name == "VERSION" {
            continue;
        }
        props.push(prop);
    }
    Ok(RawCard {
        line: begin,
        version,
        props,
    })
}

/// Splits `bytes` on `sep` outside double quotes.
fn split_unquoted(bytes: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            out.push(&bytes[start..i]);
            start = i + 1;
        }
    }
    out.push(&bytes[start..]);
    out
}

fn parse_property(bytes: &[u8], version: Version) -> Result<Property, CardErrorKind> {
    let mut in_quotes = false;
    let colon = bytes
        .iter()
        .position(|&b| {
            if b == b'"' {
                in_quotes = !in_quotes;
            }
            b == b':' && !in_quotes
        })
        .ok_or(CardErrorKind::MissingColon)?;
    let (head, raw_value) = (&bytes[..colon], &bytes[colon + 1..]);
    let mut parts = split_unquoted(head, b';').into_iter();
    let full_name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (group, name) = match full_name.split_once('.') {
        Some((g, n)) => (Some(g.to_string()), n.to_string()),
        None => (None, full_name.clone()),
    };
    let valid =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid(&name) || group.as_deref().is_some_and(|g| !valid(g)) {
        return Err(CardErrorKind::BadName(full_name));
    }
    let mut params = Vec::new();
    for p in parts {
        let p = String::from_utf8_lossy(p);
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        match p.split_once('=') {
            Some((k, v)) => {
                let values = split_unquoted(v.as_bytes(), b',')
                    .into_iter()
                    .map(|v| {
                        let v = String::from_utf8_lossy(v);
                        v.trim().trim_matches('"').to_string()
                    })
                    .collect();
                params.push((k.trim().to_ascii_uppercase(), values));
            }
            None => {
                let key = match p.to_ascii_uppercase().as_str() {
                    "QUOTED-PRINTABLE" | "BASE64" | "B" | "8BIT" | "7BIT" => "ENCODING",
                    _ => "TYPE",
                };
                params.push((key.to_string(), vec![p.to_string()]));
            }
        }
    }
    let param = |k: &str| -> Option<String> {
        params
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.first().cloned())
    };
    let encoding = param("ENCODING").map(|e| e.to_ascii_uppercase());
    let charset = param("CHARSET");
    let mut value_bytes: Cow<[u8]> = Cow::Borrowed(raw_value);
    let is_qp = encoding.as_deref() == Some("QUOTED-PRINTABLE");
    if is_qp {
        value_bytes = Cow::Owned(decode_quoted_printable(raw_value));
    } else if matches!(encoding.as_deref(), Some("B" | "BASE64")) {
        value_bytes = Cow::Owned(
            raw_value
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        );
    }
    let mut value = match &charset {
        Some(label) => {
            let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes())
                .ok_or_else(|| CardErrorKind::UnknownCharset(label.clone()))?;
            enc.decode_without_bom_handling(&value_bytes).0.into_owned()
        }
        None => match std::str::from_utf8(&value_bytes) {
            Ok(s) => s.to_string(),
            // 2.1 predates the UTF-8 default; Outlook writes the Windows code page unlabelled.
            Err(_) if version == Version::V2_1 => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(&value_bytes)
                .0
                .into_owned(),
            Err(_) => return Err(CardErrorKind::InvalidUtf8),
        },
    };
    if value.contains(['\r', '\n']) {
        value = value.replace("\r\n", "\\n").replace(['\r', '\n'], "\\n");
    }
    params.retain(|(k, v)| {
        !(k == "CHARSET"
            || (k == "ENCODING"
                && v.len() == 1
                && (is_qp
                    || v[0].eq_ignore_ascii_case("8BIT")
                    || v[0].eq_ignore_ascii_case("7BIT")))
            || (k == "TYPE" && v.len() == 1 && v[0].eq_ignore_ascii_case("QUOTED-PRINTABLE")))
    });
    Ok(Property {
        group,
        name: name.to_ascii_uppercase(),
        params,
        value,
    })
}

fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'=' && i + 2 < input.len() + 1 {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Escaping

/// Undoes vCard text escaping: `\n` `\N` `\\` `\,` `\;` `\:`; other backslashes stay.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(c @ ('\\' | ',' | ';' | ':')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Escapes a text value: backslash, newline, comma and semicolon.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a URI value: only what would break the line or the unescaping.
fn escape_uri(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\r', "")
        .replace('\n', "\\n")
}

/// Splits on `sep` where it is not escaped, then unescapes each part.
pub(crate) fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            parts.push(unescape(&cur));
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    parts.push(unescape(&cur));
    parts
}

// ---------------------------------------------------------------------------------------------
// RawCard -> CardData

/// Apple writes its built-in labels as `_$!<Other>!$_`; custom labels are plain text.
fn apple_label(value: &str) -> String {
    let v = unescape(value);
    match v.strip_prefix("_$!<").and_then(|r| r.strip_suffix(">!$_")) {
        Some(inner) => inner.to_string(),
        None => v,
    }
}

/// TYPE values (lowercased, without pref/internet) and the preference of a property.
fn types_and_pref(p: &Property) -> (Vec<String>, Option<u8>) {
    let mut types: Vec<String> = Vec::new();
    let mut pref = None;
    for t in p.param_values("TYPE").flat_map(|v| v.split(',')) {
        let t = t.trim().to_ascii_lowercase();
        if t == "pref" {
            pref = pref.or(Some(1));
        } else if !t.is_empty() && t != "internet" && !types.contains(&t) {
            types.push(t);
        }
    }
    if let Some(n) = p
        .param_values("PREF")
        .next()
        .and_then(|v| v.trim().parse::<u8>().ok())
        .filter(|n| (1..=100).contains(n))
    {
        pref = Some(n);
    }
    (types, pref)
}

/// Whether a property carries only the parameters `allowed` (so modelling it loses nothing).
fn only_params(p: &Property, allowed: &[&str]) -> bool {
    p.params.iter().all(|(k, _)| allowed.contains(&k.as_str()))
}

fn parse_date_prop(p: &Property) -> Option<PartialDate> {
    if !only_params(p, &["VALUE", "X-APPLE-OMIT-YEAR"]) {
        return None;
    }
    if let Some(v) = p.param_values("VALUE").next() {
        if !v.to_ascii_lowercase().starts_with("date") {
            return None;
        }
    }
    let mut date = PartialDate::parse(&p.value)?;
    if let Some(omit) = p.param_values("X-APPLE-OMIT-YEAR").next() {
        if omit.trim().parse::<i32>().ok() == date.year {
            date.year = None;
        }
    }
    Some(date)
}

fn mime_from_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    if t.contains('/') {
        t
    } else {
        format!("image/{t}")
    }
}

fn parse_photo(p: &Property) -> Option<Photo> {
    if !only_params(p, &["ENCODING", "TYPE", "VALUE", "MEDIATYPE"]) {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoding = p
        .param_values("ENCODING")
        .next()
        .map(str::to_ascii_uppercase);
    if let Some(rest) = p.value.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',')?;
        let mime = meta.strip_suffix(";base64")?;
        let bytes = b64.decode(data.trim()).ok()?;
        let mime = (!mime.is_empty()).then(|| mime.to_ascii_lowercase());
        return Some(Photo::Inline { mime, bytes });
    }
    if matches!(encoding.as_deref(), Some("B" | "BASE64")) {
        let bytes = b64.decode(p.value.trim()).ok()?;
        let mime = p.param_values("TYPE").next().map(mime_from_type);
        return Some(Photo::Inline { mime, bytes });
    }
    if encoding.is_none() && p.value.contains(':') {
        return Some(Photo::Uri(unescape(&p.value)));
    }
    None
}

fn labelled(p: &Property, labels: &[(String, String)]) -> Labelled {
    let (types, pref) = types_and_pref(p);
    let label = p.group.as_ref().and_then(|g| {
        labels
            .iter()
            .find(|(lg, _)| lg.eq_ignore_ascii_case(g))
            .map(|(_, l)| l.clone())
    });
    Labelled {
        types,
        pref,
        label,
        group: p.group.clone(),
        value: unescape(&p.value),
    }
}

fn components<const N: usize>(value: &str) -> [String; N] {
    let mut parts = split_escaped(value, ';').into_iter();
    std::array::from_fn(|_| parts.next().unwrap_or_default())
}

impl CardData {
    /// Maps a raw card to kith's record. Never fails: whatever cannot be modelled (an extra
    /// parameter, a text birthday, a second FN) is kept in [`CardData::unknown`].
    pub fn from_raw(raw: &RawCard) -> CardData {
        let mut card = CardData::default();
        let labels: Vec<(String, String)> = raw
            .props
            .iter()
            .filter(|p| p.name == "X-ABLABEL")
            .filter_map(|p| Some((p.group.clone()?, apple_label(&p.value))))
            .collect();
        const LABELLED_PARAMS: &[&str] = &["TYPE", "PREF"];
        let mut notes: Vec<String> = Vec::new();
        for p in &raw.props {
            let bare = p.group.is_none();
            let handled = match p.name.as_str() {
                "UID" if card.uid.is_none() && bare && p.params.is_empty() => {
                    card.uid = Some(unescape(&p.value));
                    true
                }
                "FN" if card.formatted_name.is_none() && bare && p.params.is_empty() => {
                    let v = unescape(&p.value);
                    if !v.trim().is_empty() {
                        card.formatted_name = Some(v);
                    }
                    true
                }
                "N" if card.name.is_none() && bare && p.params.is_empty() => {
                    let [family, given, additional, prefixes, suffixes] = components(&p.value);
                    let n = StructuredName {
                        family,
                        given,
                        additional,
                        prefixes,
                        suffixes,
                    };
                    if n != StructuredName::default() {
                        card.name = Some(n);
                    }
                    true
                }
                // kith's 3.0 export derived this N from FN: the contact had none.
                "N" if bare
                    && p.params.len() == 1
                    && p.params[0].0.eq_ignore_ascii_case(DERIVED_N_PARAM) =>
                {
                    true
                }
                "NICKNAME" if bare && p.params.is_empty() => {
                    card.nicknames.extend(
                        split_escaped(&p.value, ',')
                            .into_iter()
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty()),
                    );
                    true
                }
                "EMAIL" if only_params(p, LABELLED_PARAMS) => {
                    card.emails.push(labelled(p, &labels));
                    true
                }
                "TEL"
                    if only_params(p, &["TYPE", "PREF", "VALUE"])
                        && p.param_values("VALUE")
                            .all(|v| v.eq_ignore_ascii_case("uri"))
                        && (!p.has_param("VALUE") || p.value.starts_with("tel:")) =>
                {
                    card.phones.push(labelled(p, &labels));
                    true
                }
                "URL" if only_params(p, LABELLED_PARAMS) => {
                    card.urls.push(labelled(p, &labels));
                    true
                }
                "ADR" if only_params(p, LABELLED_PARAMS) => {
                    let l = labelled(p, &labels);
                    let [po_box, extended, street, locality, region, postcode, country] =
                        components(&p.value);
                    card.addresses.push(Address {
                        types: l.types,
                        pref: l.pref,
                        label: l.label,
                        group: l.group,
                        po_box,
                        extended,
                        street,
                        locality,
                        region,
                        postcode,
                        country,
                    });
                    true
                }
                "ORG" if bare && p.params.is_empty() => {
                    let mut parts = split_escaped(&p.value, ';');
                    while parts.len() > 1 && parts.last().is_some_and(|s| s.is_empty()) {
                        parts.pop();
                    }
                    if parts.iter().all(String::is_empty) {
                        false
                    } else {
                        let name = parts.remove(0);
                        card.orgs.push(Org { name, units: parts });
                        true
                    }
                }
                "TITLE" if bare && p.params.is_empty() => {
                    card.titles.push(unescape(&p.value));
                    true
                }
                "BDAY" if card.birthday.is_none() && bare => {
                    card.birthday = parse_date_prop(p);
                    card.birthday.is_some()
                }
                "ANNIVERSARY" | "X-ANNIVERSARY" | "X-MS-ANNIVERSARY"
                    if card.anniversary.is_none() && bare =>
                {
                    card.anniversary = parse_date_prop(p);
                    card.anniversary.is_some()
                }
                "CATEGORIES" if bare && p.params.is_empty() => {
                    card.categories.extend(
                        split_escaped(&p.value, ',')
                            .into_iter()
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty()),
                    );
                    true
                }
                "NOTE" if bare && p.params.is_empty() => {
                    notes.push(unescape(&p.value));
                    true
                }
                "PHOTO" if card.photo.is_none() && bare => {
                    card.photo = parse_photo(p);
                    card.photo.is_some()
                }
                _ => false,
            };
            if !handled {
                card.unknown.push(p.clone());
            }
        }
        if !notes.is_empty() {
            card.note = Some(notes.join("\n\n"));
        }
        if card.formatted_name.is_none() {
            card.formatted_name = super::derived_name(card.name.as_ref());
        }
        card
    }
}

// ---------------------------------------------------------------------------------------------
// CardData -> vCard text

/// Appends one content line, folded so no physical line exceeds 75 octets, ending in CRLF.
fn push_folded(out: &mut String, line: &str) {
    let mut limit = 75;
    let mut start = 0;
    let mut len = 0;
    for (i, c) in line.char_indices() {
        if len + c.len_utf8() > limit {
            out.push_str(&line[start..i]);
            out.push_str("\r\n ");
            start = i;
            len = 0;
            limit = 74;
        }
        len += c.len_utf8();
    }
    out.push_str(&line[start..]);
    out.push_str("\r\n");
}

fn param_value(v: &str) -> String {
    let v = v.replace('"', "'");
    if v.contains([',', ';', ':']) {
        format!("\"{v}\"")
    } else {
        v
    }
}

fn content_line(
    group: Option<&str>,
    name: &str,
    params: &[(String, Vec<String>)],
    value: &str,
) -> String {
    let mut s = String::new();
    if let Some(g) = group {
        s.push_str(g);
        s.push('.');
    }
    s.push_str(name);
    for (k, vs) in params {
        s.push(';');
        s.push_str(k);
        if !vs.is_empty() {
            s.push('=');
            let vs: Vec<String> = vs.iter().map(|v| param_value(v)).collect();
            s.push_str(&vs.join(","));
        }
    }
    s.push(':');
    s.push_str(value);
    s
}

fn type_params(
    types: &[String],
    pref: Option<u8>,
    version: WriteVersion,
) -> Vec<(String, Vec<String>)> {
    let mut types = types.to_vec();
    let mut params = Vec::new();
    if version == WriteVersion::V3_0 && pref.is_some() {
        types.push("pref".into());
    }
    if !types.is_empty() {
        params.push(("TYPE".to_string(), types));
    }
    if let (WriteVersion::V4_0, Some(n)) = (version, pref) {
        params.push(("PREF".to_string(), vec![n.to_string()]));
    }
    params
}

fn date_line(name: &str, d: &PartialDate, version: WriteVersion) -> String {
    match (version, d.year) {
        (WriteVersion::V4_0, Some(y)) => format!("{name}:{y:04}{:02}{:02}", d.month, d.day),
        (WriteVersion::V4_0, None) => format!("{name}:--{:02}{:02}", d.month, d.day),
        (WriteVersion::V3_0, Some(_)) => format!("{name}:{d}"),
        // 3.0 has no year-less date; Apple's convention is the de-facto one.
        (WriteVersion::V3_0, None) => format!(
            "{name};X-APPLE-OMIT-YEAR=1604:1604-{:02}-{:02}",
            d.month, d.day
        ),
    }
}

/// The parameter that marks an `N` kith derived from `FN` (3.0 requires N): import drops it,
/// so a contact without a structured name gets none back.
pub const DERIVED_N_PARAM: &str = "X-KITH-DERIVED";

/// Family and given name from a full name: "Family, Given" or "Given ... Family".
pub fn split_full_name(full: &str) -> (String, String) {
    let full = full.trim();
    if let Some((family, given)) = full.split_once(',') {
        return (family.trim().to_string(), given.trim().to_string());
    }
    match full.rsplit_once(char::is_whitespace) {
        Some((given, family)) => (family.trim().to_string(), given.trim().to_string()),
        None => (full.to_string(), String::new()),
    }
}

/// Writes one card as vCard 4.0 (or 3.0): folded at 75 octets, CRLF line ends, escaped, with
/// the unmodelled properties written back verbatim after the modelled ones.
pub fn write_vcard(card: &CardData, version: WriteVersion) -> String {
    let mut card = card.clone();
    card.normalize_labels();
    let mut out = String::new();
    let mut line = |l: String| push_folded(&mut out, &l);
    line("BEGIN:VCARD".into());
    line(match version {
        WriteVersion::V3_0 => "VERSION:3.0".into(),
        WriteVersion::V4_0 => "VERSION:4.0".into(),
    });
    if let Some(uid) = &card.uid {
        line(format!("UID:{}", escape_uri(uid)));
    }
    let fn_value = card.display_name().unwrap_or_default();
    line(format!("FN:{}", escape_text(&fn_value)));
    match &card.name {
        Some(n) => line(format!(
            "N:{};{};{};{};{}",
            escape_text(&n.family),
            escape_text(&n.given),
            escape_text(&n.additional),
            escape_text(&n.prefixes),
            escape_text(&n.suffixes)
        )),
        // 3.0 requires N: derive it from FN, marked so a re-import does not store it.
        None if version == WriteVersion::V3_0 => {
            let (family, given) = split_full_name(&fn_value);
            line(format!(
                "N;{DERIVED_N_PARAM}=1:{};{};;;",
                escape_text(&family),
                escape_text(&given)
            ))
        }
        None => {}
    }
    if !card.nicknames.is_empty() {
        let v: Vec<String> = card.nicknames.iter().map(|n| escape_text(n)).collect();
        line(format!("NICKNAME:{}", v.join(",")));
    }
    if let Some(d) = &card.birthday {
        line(date_line("BDAY", d, version));
    }
    if let Some(d) = &card.anniversary {
        let name = match version {
            WriteVersion::V4_0 => "ANNIVERSARY",
            WriteVersion::V3_0 => "X-ANNIVERSARY",
        };
        line(date_line(name, d, version));
    }
    let labelled_groups: Vec<String> = card
        .unknown
        .iter()
        .filter(|p| p.name == "X-ABLABEL")
        .filter_map(|p| p.group.clone())
        .collect();
    let mut orphan_labels: Vec<(String, String)> = Vec::new();
    let mut note_label = |group: &Option<String>, label: &Option<String>| {
        if let (Some(g), Some(l)) = (group, label) {
            if !labelled_groups.iter().any(|x| x.eq_ignore_ascii_case(g)) {
                orphan_labels.push((g.clone(), l.clone()));
            }
        }
    };
    for l in &card.emails {
        note_label(&l.group, &l.label);
        let params = type_params(&l.types, l.pref, version);
        line(content_line(
            l.group.as_deref(),
            "EMAIL",
            &params,
            &escape_text(&l.value),
        ));
    }
    for l in &card.phones {
        note_label(&l.group, &l.label);
        let mut params = type_params(&l.types, l.pref, version);
        let value = if l.value.starts_with("tel:") {
            params.insert(0, ("VALUE".to_string(), vec!["uri".to_string()]));
            escape_uri(&l.value)
        } else {
            escape_text(&l.value)
        };
        line(content_line(l.group.as_deref(), "TEL", &params, &value));
    }
    for a in &card.addresses {
        note_label(&a.group, &a.label);
        let params = type_params(&a.types, a.pref, version);
        let value = [
            &a.po_box,
            &a.extended,
            &a.street,
            &a.locality,
            &a.region,
            &a.postcode,
            &a.country,
        ]
        .map(|s| escape_text(s))
        .join(";");
        line(content_line(a.group.as_deref(), "ADR", &params, &value));
    }
    for l in &card.urls {
        note_label(&l.group, &l.label);
        let params = type_params(&l.types, l.pref, version);
        line(content_line(
            l.group.as_deref(),
            "URL",
            &params,
            &escape_uri(&l.value),
        ));
    }
    for o in &card.orgs {
        let mut v = escape_text(&o.name);
        for u in &o.units {
            v.push(';');
            v.push_str(&escape_text(u));
        }
        line(format!("ORG:{v}"));
    }
    for t in &card.titles {
        line(format!("TITLE:{}", escape_text(t)));
    }
    if !card.categories.is_empty() {
        let v: Vec<String> = card.categories.iter().map(|c| escape_text(c)).collect();
        line(format!("CATEGORIES:{}", v.join(",")));
    }
    if let Some(n) = &card.note {
        line(format!("NOTE:{}", escape_text(n)));
    }
    match (&card.photo, version) {
        (Some(Photo::Inline { mime, bytes }), WriteVersion::V4_0) => {
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            line(format!(
                "PHOTO:data:{};base64,{data}",
                mime.as_deref().unwrap_or("")
            ));
        }
        (Some(Photo::Inline { mime, bytes }), WriteVersion::V3_0) => {
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            let ty = match mime.as_deref() {
                Some(m) => match m.strip_prefix("image/") {
                    Some(sub) => format!(";TYPE={}", sub.to_ascii_uppercase()),
                    None => format!(";TYPE={}", param_value(m)),
                },
                None => String::new(),
            };
            line(format!("PHOTO;ENCODING=b{ty}:{data}"));
        }
        (Some(Photo::Uri(uri)), WriteVersion::V4_0) => line(format!("PHOTO:{}", escape_uri(uri))),
        (Some(Photo::Uri(uri)), WriteVersion::V3_0) => {
            line(format!("PHOTO;VALUE=uri:{}", escape_uri(uri)))
        }
        (None, _) => {}
    }
    for (g, l) in orphan_labels {
        line(format!("{g}.X-ABLABEL:{}", escape_text(&l)));
    }
    for p in &card.unknown {
        line(content_line(
            p.group.as_deref(),
            &p.name,
            &p.params,
            &p.value,
        ));
    }
    line("END:VCARD".into());
    out
}
