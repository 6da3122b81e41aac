//! Calendar dates, yearless dates, intervals and RFC 3339 timestamps, without a clock or a
//! date-time dependency.
//!
//! Invariant: every `Date`, `PartialDate` and `Span` produced by a constructor or parser in this
//! module is valid (month 1..=12, day within its month, count >= 1), and its text form parses back
//! to the same value. Nothing here reads the clock: "today" and "now" are always passed in.
//!
//! Serde forms are the display strings: `Date` is `"2026-11-22"`, `PartialDate` is `"1815-12-10"`
//! or `"--12-10"`, `Span` is `"30d"`, `"2w"`, `"6m"` or `"1y"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MS_PER_DAY: i64 = 86_400_000;

/// What `parse_date` accepts, quoted in its errors.
const EXPECT_PARSE_DATE: &str = "YYYY-MM-DD, today, yesterday or tomorrow";
const EXPECT_DATE: &str = "YYYY-MM-DD";
const EXPECT_PARTIAL: &str = "YYYY-MM-DD, --MM-DD or MM-DD";
const EXPECT_RFC3339: &str = "an RFC 3339 time such as 2026-11-22T10:00:00Z";
const EXPECT_SPAN: &str =
    "a count and a unit such as 3d, 2w, 6m, 1y, '30 days', '2 weeks' or 'every 1 month'";

/// The longest interval a `Span` may describe, so date arithmetic never overflows.
const MAX_SPAN_DAYS: i64 = 365 * 1000;

/// Why a date or time string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateErrorReason {
    #[error("it is empty")]
    Empty,
    #[error("it is not in a recognised format")]
    BadFormat,
    #[error("month {0} is out of range")]
    MonthOutOfRange(u32),
    #[error("day {day} is out of range for {month_name}{year_suffix}")]
    DayOutOfRange {
        day: u32,
        month_name: &'static str,
        year_suffix: String,
    },
    #[error("the time {0} is out of range")]
    TimeOutOfRange(String),
    #[error("the UTC offset {0} is out of range")]
    OffsetOutOfRange(String),
    #[error("it is too far from 1970 to represent")]
    Overflow,
}

/// A date or time string that could not be parsed: names the input, the reason and the
/// accepted forms, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid {what}: {reason} (expected {expected})")]
pub struct DateError {
    pub input: String,
    pub what: &'static str,
    pub reason: DateErrorReason,
    pub expected: &'static str,
}

impl DateError {
    fn new(
        input: &str,
        what: &'static str,
        reason: DateErrorReason,
        expected: &'static str,
    ) -> Self {
        DateError {
            input: input.to_string(),
            what,
            reason,
            expected,
        }
    }
}

/// Why an interval string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanErrorReason {
    #[error("it is empty")]
    Empty,
    #[error("the count is missing")]
    MissingCount,
    #[error("the count must be at least 1")]
    ZeroCount,
    #[error("the unit is missing")]
    MissingUnit,
    #[error("'{0}' is not a unit (use d, w, m or y, or days, weeks, months, years)")]
    UnknownUnit(String),
    #[error("it is longer than 1000 years")]
    TooLong,
}

/// An interval string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid interval: {reason} (expected {EXPECT_SPAN})")]
pub struct SpanError {
    pub input: String,
    pub reason: SpanErrorReason,
}

// ---------------------------------------------------------------------------------------------
// Calendar helpers

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1..=12) of `year`; 0 for an invalid month.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// English month names, January first.
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Checks month and day; `year` None means "any year" (so February has 29 days).
fn check_month_day(year: Option<i32>, month: u32, day: u32) -> Result<(), DateErrorReason> {
    if !(1..=12).contains(&month) {
        return Err(DateErrorReason::MonthOutOfRange(month));
    }
    let max = days_in_month(year.unwrap_or(2000), month as u8) as u32;
    if day < 1 || day > max {
        return Err(DateErrorReason::DayOutOfRange {
            day,
            month_name: MONTH_NAMES[month as usize - 1],
            year_suffix: year.map(|y| format!(" {y}")).unwrap_or_default(),
        });
    }
    Ok(())
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = month as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11], March = 0
    let doy = (153 * mp + 2) / 5 + day as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Parses a non-empty run of ASCII digits.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits `YYYY-MM-DD` or `YYYYMMDD` into numbers, without range checks.
fn split_iso(s: &str) -> Option<(u32, u32, u32)> {
    let b = s.as_bytes();
    match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => Some((
            digits(s.get(0..4)?)?,
            digits(s.get(5..7)?)?,
            digits(s.get(8..10)?)?,
        )),
        8 => Some((
            digits(s.get(0..4)?)?,
            digits(s.get(4..6)?)?,
            digits(s.get(6..8)?)?,
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Date

/// A calendar date in the proleptic Gregorian calendar.
///
/// Build it with [`Date::new`], parsing or [`Date::from_days`] so it is valid; fields are public
/// for reading and pattern matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// A checked date.
    pub fn new(year: i32, month: u8, day: u8) -> Result<Date, DateError> {
        check_month_day(Some(year), month as u32, day as u32).map_err(|reason| {
            DateError::new(
                &format!("{year:04}-{month:02}-{day:02}"),
                "date",
                reason,
                EXPECT_DATE,
            )
        })?;
        Ok(Date { year, month, day })
    }

    /// Days since 1970-01-01 (negative before). Saturates for years beyond about ±5.8 million.
    pub fn to_days(self) -> i32 {
        clamp_i32(days_from_civil(
            self.year as i64,
            self.month as u32,
            self.day as u32,
        ))
    }

    /// The date `days` days after 1970-01-01. Every `i32` maps to a valid date.
    pub fn from_days(days: i32) -> Date {
        let (year, month, day) = civil_from_days(days as i64);
        Date {
            year: year as i32,
            month,
            day,
        }
    }

    /// This date moved by `days` (negative moves back). Saturates at the ends of the range.
    pub fn add_days(self, days: i32) -> Date {
        Date::from_days(self.to_days().saturating_add(days))
    }

    /// The calendar date of a Unix timestamp (milliseconds) in a zone `utc_offset_seconds` east
    /// of UTC.
    pub fn from_unix_ms(ms: i64, utc_offset_seconds: i32) -> Date {
        let local = ms.saturating_add(utc_offset_seconds as i64 * 1000);
        Date::from_days(clamp_i32(local.div_euclid(MS_PER_DAY)))
    }

    /// Midnight UTC at the start of this date, as Unix milliseconds.
    pub fn to_unix_ms(self) -> i64 {
        self.to_days() as i64 * MS_PER_DAY
    }

    fn parse_with(s: &str, expected: &'static str) -> Result<Date, DateError> {
        if s.is_empty() {
            return Err(DateError::new(s, "date", DateErrorReason::Empty, expected));
        }
        let (y, m, d) = split_iso(s)
            .ok_or_else(|| DateError::new(s, "date", DateErrorReason::BadFormat, expected))?;
        check_month_day(Some(y as i32), m, d)
            .map_err(|reason| DateError::new(s, "date", reason, expected))?;
        Ok(Date {
            year: y as i32,
            month: m as u8,
            day: d as u8,
        })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `kith due` and `kith digest` print thousands of dates: the usual case (years 0 to
        // 9999, valid month and day) is written digit by digit, the same text as the general
        // `{:04}-{:02}-{:02}` below.
        if let (Ok(y @ 0..=9999), 1..=12, 1..=31) = (u16::try_from(self.year), self.month, self.day)
        {
            let d = |n: u16| b'0' + (n % 10) as u8;
            let (m, day) = (u16::from(self.month), u16::from(self.day));
            let b = [
                d(y / 1000),
                d(y / 100),
                d(y / 10),
                d(y),
                b'-',
                d(m / 10),
                d(m),
                b'-',
                d(day / 10),
                d(day),
            ];
            // The bytes are ASCII digits and dashes.
            return f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?);
        }
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Strict ISO 8601 calendar date: `2026-11-22` or `20261122`, years 0000 to 9999.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse_with(s, EXPECT_DATE)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a date typed by a user: an ISO date, an RFC 3339 date-time (its date part, as
/// written, not converted to UTC), or `today`, `yesterday`, `tomorrow` (any case).
pub fn parse_date(input: &str, today: Date) -> Result<Date, DateError> {
    let s = input.trim();
    match s.to_ascii_lowercase().as_str() {
        "today" => return Ok(today),
        "yesterday" => return Ok(today.add_days(-1)),
        "tomorrow" => return Ok(today.add_days(1)),
        _ => {}
    }
    if s.len() > 10 && matches!(s.as_bytes()[10], b'T' | b't' | b' ') {
        parse_rfc3339_to_unix_ms(s).map_err(|e| DateError {
            expected: EXPECT_PARSE_DATE,
            ..e
        })?;
        return Date::parse_with(&s[..10], EXPECT_PARSE_DATE).map_err(|e| DateError {
            input: s.to_string(),
            ..e
        });
    }
    Date::parse_with(s, EXPECT_PARSE_DATE)
}

// ---------------------------------------------------------------------------------------------
// PartialDate

/// A date whose year may be unknown: birthdays and anniversaries.
///
/// Without a year, February 29 is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartialDate {
    pub year: Option<i32>,
    pub month: u8,
    pub day: u8,
}

impl PartialDate {
    /// A checked partial date.
    pub fn new(year: Option<i32>, month: u8, day: u8) -> Result<PartialDate, DateError> {
        let p = PartialDate { year, month, day };
        check_month_day(year, month as u32, day as u32)
            .map_err(|reason| DateError::new(&p.to_string(), "date", reason, EXPECT_PARTIAL))?;
        Ok(p)
    }

    /// The full date, when the year is known.
    pub fn to_date(self) -> Option<Date> {
        Some(Date {
            year: self.year?,
            month: self.month,
            day: self.day,
        })
    }

    /// The first date on or after `on_or_after` that falls on this month and day (the year, if
    /// any, is ignored). February 29 falls on February 28 in non-leap years.
    pub fn next_occurrence(self, on_or_after: Date) -> Date {
        let in_year = |year: i32| Date {
            year,
            month: self.month,
            day: self.day.min(days_in_month(year, self.month)),
        };
        let this_year = in_year(on_or_after.year);
        if this_year >= on_or_after {
            this_year
        } else {
            in_year(on_or_after.year.saturating_add(1))
        }
    }
}

impl From<Date> for PartialDate {
    fn from(d: Date) -> Self {
        PartialDate {
            year: Some(d.year),
            month: d.month,
            day: d.day,
        }
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "--{:02}-{:02}", self.month, self.day),
        }
    }
}

impl FromStr for PartialDate {
    type Err = DateError;

    /// `YYYY-MM-DD`, `YYYYMMDD`, `--MM-DD` (vCard 4), `--MMDD` or `MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| DateError::new(s, "date", reason, EXPECT_PARTIAL);
        if s.is_empty() {
            return Err(err(DateErrorReason::Empty));
        }
        let b = s.as_bytes();
        let (year, month, day) = if let Some(rest) = s.strip_prefix("--") {
            let rb = rest.as_bytes();
            match rb.len() {
                5 if rb[2] == b'-' => (None, digits(&rest[0..2]), digits(&rest[3..5])),
                4 => (
                    None,
                    rest.get(0..2).and_then(digits),
                    rest.get(2..4).and_then(digits),
                ),
                _ => return Err(err(DateErrorReason::BadFormat)),
            }
        } else if b.len() == 5 && b[2] == b'-' {
            (None, digits(&s[0..2]), digits(&s[3..5]))
        } else {
            let (y, m, d) = split_iso(s).ok_or_else(|| err(DateErrorReason::BadFormat))?;
            (Some(y as i32), Some(m), Some(d))
        };
        let (Some(month), Some(day)) = (month, day) else {
            return Err(err(DateErrorReason::BadFormat));
        };
        check_month_day(year, month, day).map_err(err)?;
        Ok(PartialDate {
            year,
            month: month as u8,
            day: day as u8,
        })
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Span

/// The unit of a [`Span`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpanUnit {
    Day,
    Week,
    Month,
    Year,
}

impl SpanUnit {
    fn letter(self) -> char {
        match self {
            SpanUnit::Day => 'd',
            SpanUnit::Week => 'w',
            SpanUnit::Month => 'm',
            SpanUnit::Year => 'y',
        }
    }

    /// Approximate length in days: 1, 7, 30 or 365.
    fn approx_days(self) -> i64 {
        match self {
            SpanUnit::Day => 1,
            SpanUnit::Week => 7,
            SpanUnit::Month => 30,
            SpanUnit::Year => 365,
        }
    }

    fn from_word(w: &str) -> Option<SpanUnit> {
        Some(match w {
            "d" | "day" | "days" => SpanUnit::Day,
            "w" | "wk" | "wks" | "week" | "weeks" => SpanUnit::Week,
            "m" | "mo" | "mon" | "month" | "months" => SpanUnit::Month,
            "y" | "yr" | "yrs" | "year" | "years" => SpanUnit::Year,
            _ => return None,
        })
    }
}

/// An interval such as "every 30 days": a positive count of days, weeks, months or years,
/// at most 1000 years long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub count: u32,
    pub unit: SpanUnit,
}

impl Span {
    /// A checked span (count >= 1, at most 1000 years).
    pub fn new(count: u32, unit: SpanUnit) -> Result<Span, SpanError> {
        let span = Span { count, unit };
        let reason = if count == 0 {
            SpanErrorReason::ZeroCount
        } else if span.approx_days() > MAX_SPAN_DAYS {
            SpanErrorReason::TooLong
        } else {
            return Ok(span);
        };
        Err(SpanError {
            input: span.to_string(),
            reason,
        })
    }

    /// Approximate length in days (a month counts 30, a year 365), for sorting and overdue
    /// ratios; use [`Span::add_to`] for calendar arithmetic.
    pub fn approx_days(self) -> i64 {
        self.count as i64 * self.unit.approx_days()
    }

    /// `date` moved forward by this span. Months and years clamp the day to the end of the
    /// target month (January 31 + 1m = February 28 or 29).
    pub fn add_to(self, date: Date) -> Date {
        self.shift(date, 1)
    }

    /// `date` moved back by this span, clamping like [`Span::add_to`].
    pub fn sub_from(self, date: Date) -> Date {
        self.shift(date, -1)
    }

    fn shift(self, date: Date, sign: i64) -> Date {
        let n = self.count as i64 * sign;
        let months = match self.unit {
            SpanUnit::Day => return Date::from_days(clamp_i32(date.to_days() as i64 + n)),
            SpanUnit::Week => {
                return Date::from_days(clamp_i32(date.to_days() as i64 + 7 * n));
            }
            SpanUnit::Month => n,
            SpanUnit::Year => 12 * n,
        };
        let total = date.year as i64 * 12 + (date.month as i64 - 1) + months;
        let year = clamp_i32(total.div_euclid(12));
        let month = (total.rem_euclid(12) + 1) as u8;
        Date {
            year,
            month,
            day: date.day.min(days_in_month(year, month)),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.letter())
    }
}

impl FromStr for Span {
    type Err = SpanError;

    /// `3d`, `2w`, `6m`, `1y`, `30 days`, `2 weeks`, `every 30 days` (any case).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| SpanError {
            input: input.to_string(),
            reason,
        };
        let lower = input.trim().to_lowercase();
        let mut s = lower.as_str();
        if let Some(rest) = s.strip_prefix("every") {
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                s = rest.trim_start();
            }
        }
        if s.is_empty() {
            return Err(err(if lower.is_empty() {
                SpanErrorReason::Empty
            } else {
                SpanErrorReason::MissingCount
            }));
        }
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if digits_end == 0 {
            return Err(err(SpanErrorReason::MissingCount));
        }
        let unit_word = s[digits_end..].trim();
        if unit_word.is_empty() {
            return Err(err(SpanErrorReason::MissingUnit));
        }
        let unit = SpanUnit::from_word(unit_word)
            .ok_or_else(|| err(SpanErrorReason::UnknownUnit(unit_word.to_string())))?;
        let count: u64 = s[..digits_end]
            .parse()
            .map_err(|_| err(SpanErrorReason::TooLong))?;
        if count == 0 {
            return Err(err(SpanErrorReason::ZeroCount));
        }
        if count.saturating_mul(unit.approx_days() as u64) > MAX_SPAN_DAYS as u64 {
            return Err(err(SpanErrorReason::TooLong));
        }
        Ok(Span {
            count: count as u32,
            unit,
        })
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 3339 timestamps

/// Formats Unix milliseconds as RFC 3339 in UTC: `2026-11-22T10:00:00Z`, with `.sss` only when
/// the milliseconds are not zero, so [`parse_rfc3339_to_unix_ms`] gives the same number back.
pub fn format_unix_ms_utc(ms: i64) -> String {
    let date = Date::from_days(clamp_i32(ms.div_euclid(MS_PER_DAY)));
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    if milli == 0 {
        format!("{date}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{date}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
    }
}

/// Parses an RFC 3339 date-time (`2026-11-22T10:00:00Z`, `2026-11-22T11:00:00.5+01:00`; `t`,
/// `z` and a space separator are accepted) into Unix milliseconds. Fractions beyond
/// milliseconds are truncated; a leap second (`:60`) counts as the next second.
pub fn parse_rfc3339_to_unix_ms(input: &str) -> Result<i64, DateError> {
    let what = "date-time";
    let err = |reason| DateError::new(input, what, reason, EXPECT_RFC3339);
    let s = input.trim();
    if s.is_empty() {
        return Err(err(DateErrorReason::Empty));
    }
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_char_boundary(10) || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(err(DateErrorReason::BadFormat));
    }
    let (y, mo, d) = split_iso(&s[..10]).ok_or_else(|| err(DateErrorReason::BadFormat))?;
    check_month_day(Some(y as i32), mo, d).map_err(err)?;
    // hh:mm:ss
    if b[13] != b':' || b[16] != b':' {
        return Err(err(DateErrorReason::BadFormat));
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .and_then(digits)
            .ok_or_else(|| err(DateErrorReason::BadFormat))
    };
    let (h, mi, sec) = (
        num(11..13)? as i64,
        num(14..16)? as i64,
        num(17..19)? as i64,
    );
    if h > 23 || mi > 59 || sec > 60 {
        return Err(err(DateErrorReason::TimeOutOfRange(s[11..19].to_string())));
    }
    let mut rest = &s[19..];
    let mut milli = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if n == 0 {
            return Err(err(DateErrorReason::BadFormat));
        }
        let mut padded = frac[..n.min(3)].to_string();
        while padded.len() < 3 {
            padded.push('0');
        }
        milli = padded.parse::<i64>().unwrap_or(0);
        rest = &frac[n..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return Err(err(DateErrorReason::BadFormat));
            }
            let oh = digits(&rest[1..3]).ok_or_else(|| err(DateErrorReason::BadFormat))? as i64;
            let om = digits(&rest[4..6]).ok_or_else(|| err(DateErrorReason::BadFormat))? as i64;
            if oh > 23 || om > 59 {
                return Err(err(DateErrorReason::OffsetOutOfRange(rest.to_string())));
            }
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y as i64, mo, d);
    Ok(days * MS_PER_DAY + ((h * 60 + mi) * 60 + sec - offset_s) * 1000 + milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_display_digit_by_digit_is_the_general_format() {
        for year in [-1, 0, 7, 99, 999, 1970, 2025, 9999, 10_000, 12_345] {
            for month in 0..=13u8 {
                for day in [0u8, 1, 9, 10, 28, 31, 32, 99] {
                    let d = Date { year, month, day };
                    assert_eq!(
                        d.to_string(),
                        format!("{year:04}-{month:02}-{day:02}"),
                        "{year} {month} {day}"
                    );
                }
            }
        }
    }

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2026));
        assert!(is_leap_year(0));
        assert!(is_leap_year(-4));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
        assert_eq!(days_in_month(2026, 13), 0);
    }

    #[test]
    fn known_day_numbers() {
        assert_eq!(d("1970-01-01").to_days(), 0);
        assert_eq!(d("1970-01-02").to_days(), 1);
        assert_eq!(d("1969-12-31").to_days(), -1);
        assert_eq!(d("2000-03-01").to_days(), 11_017);
        assert_eq!(d("2026-11-22").to_days(), 20_779);
        assert_eq!(Date::from_days(20_779), d("2026-11-22"));
        assert_eq!(d("0000-01-01").to_days(), -719_528);
    }

    #[test]
    fn days_round_trip_over_a_wide_range() {
        let mut prev = Date::from_days(-1_000_000 - 1);
        for n in -1_000_000..=1_000_000 {
            let date = Date::from_days(n);
            assert_eq!(date.to_days(), n, "{date}");
            assert!(date > prev, "{date} after {prev}");
            assert!(date.month >= 1 && date.month <= 12);
            assert!(date.day >= 1 && date.day <= days_in_month(date.year, date.month));
            // consecutive days: either next day in month, or first of the next month
            if date.day != 1 {
                assert_eq!(
                    (date.year, date.month, date.day - 1),
                    (prev.year, prev.month, prev.day)
                );
            } else {
                assert_eq!(prev.day, days_in_month(prev.year, prev.month));
            }
            prev = date;
        }
        for n in [i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1] {
            assert_eq!(Date::from_days(n).to_days(), n);
        }
    }

    #[test]
    fn add_days_crosses_month_and_year_ends() {
        assert_eq!(d("2024-02-28").add_days(1), d("2024-02-29"));
        assert_eq!(d("2023-02-28").add_days(1), d("2023-03-01"));
        assert_eq!(d("2026-12-31").add_days(1), d("2027-01-01"));
        assert_eq!(d("2027-01-01").add_days(-1), d("2026-12-31"));
        assert_eq!(d("2026-11-22").add_days(365), d("2027-11-22"));
        assert_eq!(d("2026-11-22").add_days(0), d("2026-11-22"));
    }

    #[test]
    fn date_parse_and_display() {
        assert_eq!(
            d("2026-11-22"),
            Date {
                year: 2026,
                month: 11,
                day: 22
            }
        );
        assert_eq!(d("20261122"), d("2026-11-22"));
        assert_eq!(d("2024-02-29").to_string(), "2024-02-29");
        assert_eq!(d("0001-01-01").to_string(), "0001-01-01");
        assert_eq!(
            Date::new(2026, 2, 29).unwrap_err().reason.to_string(),
            "day 29 is out of range for February 2026"
        );
        assert!(Date::new(2024, 2, 29).is_ok());
    }

    #[test]
    fn date_parse_errors() {
        let cases = [
            ("", DateErrorReason::Empty),
            ("2026-13-01", DateErrorReason::MonthOutOfRange(13)),
            ("2026-00-01", DateErrorReason::MonthOutOfRange(0)),
            ("2026-11-22x", DateErrorReason::BadFormat),
            ("2026/11/22", DateErrorReason::BadFormat),
            ("26-11-22", DateErrorReason::BadFormat),
            ("2026-1-22", DateErrorReason::BadFormat),
            ("+026-11-22", DateErrorReason::BadFormat),
            ("2026-11-2 ", DateErrorReason::BadFormat),
            (" 2026-11-22", DateErrorReason::BadFormat),
            ("２０２６-11-22", DateErrorReason::BadFormat),
            ("2026112", DateErrorReason::BadFormat),
        ];
        for (input, reason) in cases {
            let e = input.parse::<Date>().unwrap_err();
            assert_eq!(e.reason, reason, "{input}");
            assert_eq!(e.input, input);
        }
        for input in [
            "2023-02-29",
            "2026-04-31",
            "2026-01-32",
            "2026-01-00",
            "1900-02-29",
        ] {
            let e = input.parse::<Date>().unwrap_err();
            assert!(
                matches!(e.reason, DateErrorReason::DayOutOfRange { .. }),
                "{input}: {e}"
            );
        }
        assert_eq!(
            "2023-02-29".parse::<Date>().unwrap_err().to_string(),
            "'2023-02-29' is not a valid date: day 29 is out of range for February 2023 (expected YYYY-MM-DD)"
        );
    }

    #[test]
    fn from_unix_ms_with_offsets() {
        // 2026-11-22T23:30:00Z
        let ms = parse_rfc3339_to_unix_ms("2026-11-22T23:30:00Z").unwrap();
        assert_eq!(Date::from_unix_ms(ms, 0), d("2026-11-22"));
        assert_eq!(Date::from_unix_ms(ms, 3600), d("2026-11-23"));
        assert_eq!(Date::from_unix_ms(ms, -24 * 3600), d("2026-11-21"));
        assert_eq!(Date::from_unix_ms(0, 0), d("1970-01-01"));
        assert_eq!(Date::from_unix_ms(-1, 0), d("1969-12-31"));
        assert_eq!(d("2026-11-22").to_unix_ms(), 20_779 * MS_PER_DAY);
        let _ = Date::from_unix_ms(i64::MAX, i32::MAX);
        let _ = Date::from_unix_ms(i64::MIN, i32::MIN);
    }

    #[test]
    fn parse_date_keywords_and_forms() {
        let today = d("2026-03-01");
        assert_eq!(parse_date("today", today).unwrap(), today);
        assert_eq!(parse_date(" Today ", today).unwrap(), today);
        assert_eq!(parse_date("YESTERDAY", today).unwrap(), d("2026-02-28"));
        assert_eq!(parse_date("tomorrow", today).unwrap(), d("2026-03-02"));
        assert_eq!(parse_date("2024-02-29", today).unwrap(), d("2024-02-29"));
        assert_eq!(parse_date("20240229", today).unwrap(), d("2024-02-29"));
        assert_eq!(
            parse_date("2026-11-22T23:30:00-05:00", today).unwrap(),
            d("2026-11-22")
        );
        assert_eq!(
            parse_date("2026-11-22 01:00:00Z", today).unwrap(),
            d("2026-11-22")
        );
    }

    #[test]
    fn parse_date_errors() {
        let today = d("2026-03-01");
        assert_eq!(
            parse_date("2026-13-01", today).unwrap_err().to_string(),
            "'2026-13-01' is not a valid date: month 13 is out of range \
             (expected YYYY-MM-DD, today, yesterday or tomorrow)"
        );
        assert_eq!(
            parse_date("", today).unwrap_err().to_string(),
            "'' is not a valid date: it is empty (expected YYYY-MM-DD, today, yesterday or tomorrow)"
        );
        assert_eq!(
            parse_date("next week", today).unwrap_err().reason,
            DateErrorReason::BadFormat
        );
        assert_eq!(
            parse_date("todays", today).unwrap_err().reason,
            DateErrorReason::BadFormat
        );
        let e = parse_date("2026-11-22T25:00:00Z", today).unwrap_err();
        assert_eq!(e.reason, DateErrorReason::TimeOutOfRange("25:00:00".into()));
        assert_eq!(e.expected, EXPECT_PARSE_DATE);
        let e = parse_date("2026-02-30T10:00:00Z", today).unwrap_err();
        assert!(matches!(e.reason, DateErrorReason::DayOutOfRange { .. }));
        assert_eq!(e.input, "2026-02-30T10:00:00Z");
        assert_eq!(
            parse_date("2026-11-22Tnoon", today).unwrap_err().reason,
            DateErrorReason::BadFormat
        );
        // multi-byte input must not panic on slicing
        assert!(parse_date("2026-11-2é:00:00Z", today).is_err());
        assert!(parse_date("ééééééééééééé", today).is_err());
        assert!(parse_date("202€11", today).is_err());
        assert!("--1€".parse::<PartialDate>().is_err());
    }

    #[test]
    fn partial_date_forms() {
        let p = |s: &str| s.parse::<PartialDate>().unwrap();
        let dec10 = PartialDate {
            year: None,
            month: 12,
            day: 10,
        };
        assert_eq!(p("--12-10"), dec10);
        assert_eq!(p("--1210"), dec10);
        assert_eq!(p("12-10"), dec10);
        assert_eq!(p("1815-12-10").year, Some(1815));
        assert_eq!(p("18151210"), p("1815-12-10"));
        assert_eq!(p("--02-29").day, 29);
        assert_eq!(dec10.to_string(), "--12-10");
        assert_eq!(p("1815-12-10").to_string(), "1815-12-10");
        assert_eq!(p("1815-12-10").to_date(), Some(d("1815-12-10")));
        assert_eq!(dec10.to_date(), None);
        assert_eq!(PartialDate::from(d("2024-02-29")), p("2024-02-29"));
        assert!(PartialDate::new(None, 2, 29).is_ok());
        assert!(PartialDate::new(Some(2023), 2, 29).is_err());
    }

    #[test]
    fn partial_date_errors() {
        let cases = [
            ("", DateErrorReason::Empty),
            ("--13-01", DateErrorReason::MonthOutOfRange(13)),
            ("13-01", DateErrorReason::MonthOutOfRange(13)),
            ("--1-1", DateErrorReason::BadFormat),
            ("--12/10", DateErrorReason::BadFormat),
            ("12-1x", DateErrorReason::BadFormat),
            ("---12-10", DateErrorReason::BadFormat),
            ("December 10", DateErrorReason::BadFormat),
        ];
        for (input, reason) in cases {
            assert_eq!(
                input.parse::<PartialDate>().unwrap_err().reason,
                reason,
                "{input}"
            );
        }
        for input in ["--02-30", "04-31", "2023-02-29", "--01-00"] {
            assert!(matches!(
                input.parse::<PartialDate>().unwrap_err().reason,
                DateErrorReason::DayOutOfRange { .. }
            ));
        }
        assert_eq!(
            "--02-30".parse::<PartialDate>().unwrap_err().to_string(),
            "'--02-30' is not a valid date: day 30 is out of range for February \
             (expected YYYY-MM-DD, --MM-DD or MM-DD)"
        );
    }

    #[test]
    fn next_occurrence() {
        let p = |s: &str| s.parse::<PartialDate>().unwrap();
        assert_eq!(
            p("--12-10").next_occurrence(d("2026-11-22")),
            d("2026-12-10")
        );
        assert_eq!(
            p("--12-10").next_occurrence(d("2026-12-10")),
            d("2026-12-10")
        );
        assert_eq!(
            p("--12-10").next_occurrence(d("2026-12-11")),
            d("2027-12-10")
        );
        assert_eq!(
            p("1815-12-10").next_occurrence(d("2026-01-01")),
            d("2026-12-10")
        );
        assert_eq!(
            p("--02-29").next_occurrence(d("2026-01-01")),
            d("2026-02-28")
        );
        assert_eq!(
            p("--02-29").next_occurrence(d("2028-01-01")),
            d("2028-02-29")
        );
        assert_eq!(
            p("--02-29").next_occurrence(d("2027-03-01")),
            d("2028-02-29")
        );
        assert_eq!(
            p("--01-01").next_occurrence(d("2026-12-31")),
            d("2027-01-01")
        );
    }

    #[test]
    fn span_parse_forms() {
        let s = |x: &str| x.parse::<Span>().unwrap();
        let cases = [
            ("3d", 3, SpanUnit::Day),
            ("2w", 2, SpanUnit::Week),
            ("6m", 6, SpanUnit::Month),
            ("1y", 1, SpanUnit::Year),
            ("30 days", 30, SpanUnit::Day),
            ("1 day", 1, SpanUnit::Day),
            ("2 weeks", 2, SpanUnit::Week),
            ("1 month", 1, SpanUnit::Month),
            ("1 year", 1, SpanUnit::Year),
            ("every 30 days", 30, SpanUnit::Day),
            ("Every 2 Weeks", 2, SpanUnit::Week),
            ("  6M ", 6, SpanUnit::Month),
            ("10 yrs", 10, SpanUnit::Year),
            ("1000y", 1000, SpanUnit::Year),
            ("007d", 7, SpanUnit::Day),
        ];
        for (input, count, unit) in cases {
            assert_eq!(s(input), Span { count, unit }, "{input}");
        }
        assert_eq!(s("every 30 days").to_string(), "30d");
        assert_eq!(s("2 weeks").to_string(), "2w");
        assert_eq!(s("6 months").to_string(), "6m");
        assert_eq!(s("1 year").to_string(), "1y");
        assert_eq!(s("2w").approx_days(), 14);
        assert_eq!(s("6m").approx_days(), 180);
        assert_eq!(s("1y").approx_days(), 365);
    }

    #[test]
    fn span_parse_errors() {
        let cases = [
            ("", SpanErrorReason::Empty),
            ("   ", SpanErrorReason::Empty),
            ("every", SpanErrorReason::MissingCount),
            ("every week", SpanErrorReason::MissingCount),
            ("d", SpanErrorReason::MissingCount),
            ("-3d", SpanErrorReason::MissingCount),
            ("0d", SpanErrorReason::ZeroCount),
            ("every 0 weeks", SpanErrorReason::ZeroCount),
            ("3", SpanErrorReason::MissingUnit),
            (
                "3 fortnights",
                SpanErrorReason::UnknownUnit("fortnights".into()),
            ),
            ("3h", SpanErrorReason::UnknownUnit("h".into())),
            ("3d2", SpanErrorReason::UnknownUnit("d2".into())),
            ("everyday", SpanErrorReason::MissingCount),
            ("1001y", SpanErrorReason::TooLong),
            ("4294967296d", SpanErrorReason::TooLong),
            ("99999999999999999999999999d", SpanErrorReason::TooLong),
        ];
        for (input, reason) in cases {
            assert_eq!(input.parse::<Span>().unwrap_err().reason, reason, "{input}");
        }
        assert_eq!(
            "0d".parse::<Span>().unwrap_err().to_string(),
            "'0d' is not a valid interval: the count must be at least 1 (expected a count and a \
             unit such as 3d, 2w, 6m, 1y, '30 days', '2 weeks' or 'every 1 month')"
        );
        assert!(Span::new(0, SpanUnit::Day).is_err());
        assert!(Span::new(1001, SpanUnit::Year).is_err());
        assert!(Span::new(1000, SpanUnit::Year).is_ok());
    }

    #[test]
    fn span_arithmetic_clamps_month_ends() {
        let s = |x: &str| x.parse::<Span>().unwrap();
        assert_eq!(s("1m").add_to(d("2026-01-31")), d("2026-02-28"));
        assert_eq!(s("1m").add_to(d("2024-01-31")), d("2024-02-29"));
        assert_eq!(s("1m").add_to(d("2026-03-31")), d("2026-04-30"));
        assert_eq!(s("1m").add_to(d("2026-12-15")), d("2027-01-15"));
        assert_eq!(s("13m").add_to(d("2026-12-15")), d("2028-01-15"));
        assert_eq!(s("1y").add_to(d("2024-02-29")), d("2025-02-28"));
        assert_eq!(s("4y").add_to(d("2024-02-29")), d("2028-02-29"));
        assert_eq!(s("1m").sub_from(d("2026-03-31")), d("2026-02-28"));
        assert_eq!(s("1m").sub_from(d("2026-01-15")), d("2025-12-15"));
        assert_eq!(s("12m").sub_from(d("2026-01-15")), d("2025-01-15"));
        assert_eq!(s("1y").sub_from(d("2024-02-29")), d("2023-02-28"));
        assert_eq!(s("30d").add_to(d("2026-11-22")), d("2026-12-22"));
        assert_eq!(s("30d").sub_from(d("2026-12-22")), d("2026-11-22"));
        assert_eq!(s("2w").add_to(d("2026-12-25")), d("2027-01-08"));
        assert_eq!(s("2w").sub_from(d("2027-01-08")), d("2026-12-25"));
        assert_eq!(s("1000y").add_to(d("2026-01-01")), d("3026-01-01"));
    }

    #[test]
    fn serde_forms() {
        let date = d("2026-11-22");
        assert_eq!(serde_json::to_string(&date).unwrap(), "\"2026-11-22\"");
        assert_eq!(
            serde_json::from_str::<Date>("\"2026-11-22\"").unwrap(),
            date
        );
        assert!(serde_json::from_str::<Date>("\"2026-02-30\"").is_err());
        assert!(serde_json::from_str::<Date>("20261122").is_err());

        let p: PartialDate = "--12-10".parse().unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"--12-10\"");
        assert_eq!(
            serde_json::from_str::<PartialDate>("\"--12-10\"").unwrap(),
            p
        );
        let p: PartialDate = "1815-12-10".parse().unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"1815-12-10\"");

        let span: Span = "every 30 days".parse().unwrap();
        assert_eq!(serde_json::to_string(&span).unwrap(), "\"30d\"");
        assert_eq!(serde_json::from_str::<Span>("\"30d\"").unwrap(), span);
        let e = serde_json::from_str::<Span>("\"0d\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 1"), "{e}");
    }

    #[test]
    fn rfc3339_format_and_parse() {
        assert_eq!(format_unix_ms_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_ms_utc(-1), "1969-12-31T23:59:59.999Z");
        let ms = parse_rfc3339_to_unix_ms("2026-11-22T10:00:00Z").unwrap();
        assert_eq!(ms, (20_779 * 86_400 + 36_000) * 1000);
        assert_eq!(format_unix_ms_utc(ms), "2026-11-22T10:00:00Z");
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22T11:30:00+01:30").unwrap(),
            ms
        );
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22T05:00:00-05:00").unwrap(),
            ms
        );
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22t10:00:00z").unwrap(),
            ms
        );
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22 10:00:00Z").unwrap(),
            ms
        );
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22T10:00:00.5Z").unwrap(),
            ms + 500
        );
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22T10:00:00.123456789Z").unwrap(),
            ms + 123
        );
        assert_eq!(
            parse_rfc3339_to_unix_ms("2016-12-31T23:59:60Z").unwrap(),
            parse_rfc3339_to_unix_ms("2017-01-01T00:00:00Z").unwrap()
        );
        for ms in [
            0,
            1,
            -1,
            999,
            1_700_000_000_123,
            -62_135_596_800_000,
            253_402_300_799_999,
        ] {
            assert_eq!(
                parse_rfc3339_to_unix_ms(&format_unix_ms_utc(ms)).unwrap(),
                ms
            );
        }
    }

    #[test]
    fn rfc3339_errors() {
        let cases = [
            ("", DateErrorReason::Empty),
            ("2026-11-22", DateErrorReason::BadFormat),
            ("2026-11-22T10:00:00", DateErrorReason::BadFormat),
            ("2026-11-22T10:00Z", DateErrorReason::BadFormat),
            ("20261122T100000Z", DateErrorReason::BadFormat),
            ("2026-11-22T10:00:00+0100", DateErrorReason::BadFormat),
            ("2026-11-22T10:00:00.Z", DateErrorReason::BadFormat),
            ("2026-11-22T10-00-00Z", DateErrorReason::BadFormat),
            ("2026-11-22T1a:00:00Z", DateErrorReason::BadFormat),
            ("2026-11-22T10:00:00Zjunk", DateErrorReason::BadFormat),
            ("2026-13-22T10:00:00Z", DateErrorReason::MonthOutOfRange(13)),
            (
                "2026-11-22T24:00:00Z",
                DateErrorReason::TimeOutOfRange("24:00:00".into()),
            ),
            (
                "2026-11-22T10:60:00Z",
                DateErrorReason::TimeOutOfRange("10:60:00".into()),
            ),
            (
                "2026-11-22T10:00:61Z",
                DateErrorReason::TimeOutOfRange("10:00:61".into()),
            ),
            (
                "2026-11-22T10:00:00+24:00",
                DateErrorReason::OffsetOutOfRange("+24:00".into()),
            ),
            (
                "2026-11-22T10:00:00+01:60",
                DateErrorReason::OffsetOutOfRange("+01:60".into()),
            ),
        ];
        for (input, reason) in cases {
            assert_eq!(
                parse_rfc3339_to_unix_ms(input).unwrap_err().reason,
                reason,
                "{input}"
            );
        }
        assert!(matches!(
            parse_rfc3339_to_unix_ms("2026-02-29T10:00:00Z")
                .unwrap_err()
                .reason,
            DateErrorReason::DayOutOfRange { .. }
        ));
        assert_eq!(
            parse_rfc3339_to_unix_ms("2026-11-22")
                .unwrap_err()
                .to_string(),
            "'2026-11-22' is not a valid date-time: it is not in a recognised format \
             (expected an RFC 3339 time such as 2026-11-22T10:00:00Z)"
        );
        assert!(parse_rfc3339_to_unix_ms("2026-11-22T10:00:00+é:00").is_err());
        assert!(parse_rfc3339_to_unix_ms("2026-11-22T10:0é:00Z").is_err());
    }
}
