//! The time of a use case: `App` reads its clock on every call, so a long-lived `App` (the
//! daemon, the web server) sees the time move, while a pinned clock (`KITH_NOW`, tests) never
//! moves.
//!
//! Invariant: nothing in `app` reads the time except through a `Clock`; the CLI decides which
//! clock (system or pinned) and passes it in, so `app` never reads the environment.

use std::fmt;
use std::sync::Arc;

use kith_core::time::Date;

/// Where the time comes from.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    /// The system clock and the local time zone, read on every call.
    System,
    /// A fixed instant (milliseconds since the epoch), dated in UTC, as `KITH_NOW` pins it.
    Pinned(i64),
    /// Any function returning (milliseconds since the epoch, UTC offset in seconds): for tests
    /// and simulations.
    Func(Arc<dyn Fn() -> (i64, i32) + Send + Sync>),
}

impl Clock {
    /// The system clock, read on every call.
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// A clock stopped at `ms` (milliseconds since the epoch); its date is the UTC date.
    pub fn pinned(ms: i64) -> Self {
        Clock(Source::Pinned(ms))
    }

    /// A clock reading `f` on every call: (milliseconds since the epoch, UTC offset seconds).
    pub fn from_fn(f: impl Fn() -> (i64, i32) + Send + Sync + 'static) -> Self {
        Clock(Source::Func(Arc::new(f)))
    }

    /// Milliseconds since the epoch, and the user's local date at that instant.
    pub fn read(&self) -> (i64, Date) {
        let (ms, offset) = match &self.0 {
            Source::System => {
                let now = jiff::Timestamp::now();
                (now.as_millisecond(), local_zone().to_offset(now).seconds())
            }
            Source::Pinned(ms) => (*ms, 0),
            Source::Func(f) => f(),
        };
        (ms, Date::from_unix_ms(ms, offset))
    }

    /// Whether this clock never moves (`KITH_NOW`).
    pub fn is_pinned(&self) -> bool {
        matches!(self.0, Source::Pinned(_))
    }
}

/// The user's time zone, found once per process.
///
/// Without `TZ`, it is read straight from `/etc/localtime` as a TZif file. jiff's own lookup
/// (`TimeZone::system`) resolves that symlink to a zone name and then lists the whole zoneinfo
/// directory to find it: about 5 ms on every command that reads the clock, a quarter of
/// `kith due`. Only the offset matters here, so the name is not needed. With `TZ` set, or
/// when `/etc/localtime` cannot be read, jiff's lookup decides, as before.
fn local_zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| {
        let from_file = || {
            let data = std::fs::read("/etc/localtime").ok()?;
            jiff::tz::TimeZone::tzif("localtime", &data).ok()
        };
        let direct = if std::env::var_os("TZ").is_none() {
            from_file()
        } else {
            None
        };
        direct.unwrap_or_else(jiff::tz::TimeZone::system)
    })
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::Pinned(ms) => write!(f, "Clock::Pinned({ms})"),
            Source::Func(_) => f.write_str("Clock::Func"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::app::App;
    use crate::store::Vault;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_long_lived_app_sees_the_time_move() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("vault.redb")).unwrap();
        let t = Arc::new(AtomicI64::new(1_767_225_600_000)); // 2026-01-01T00:00:00Z
        let t2 = t.clone();
        let app = App::new(
            vault,
            dir.path().to_path_buf(),
            Clock::from_fn(move || (t2.load(Ordering::SeqCst), 0)),
        );
        assert_eq!(app.today().to_string(), "2026-01-01");
        let a = app.now();
        t.fetch_add(DAY + 1, Ordering::SeqCst);
        assert_eq!(app.now(), a + DAY + 1);
        assert_eq!(app.today().to_string(), "2026-01-02");
        // A reminder for "today" is accepted on the new day, which the built-time clock refused.
        let c = app
            .add_contact(crate::app::NewContact {
                name: "Ada".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let due = crate::app::parse_date("today", app.today()).unwrap();
        app.remind(c, due, "call").unwrap();
        let rows = app.due(crate::app::parse_span("1d").unwrap()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].date.to_string(), "2026-01-02");
        assert_eq!(rows[0].days, 0);
        // A day later the same reminder is one day overdue, with no new App.
        t.fetch_add(DAY, Ordering::SeqCst);
        let rows = app.due(crate::app::parse_span("1d").unwrap()).unwrap();
        assert_eq!(rows[0].days, -1);
    }

    #[test]
    fn a_pinned_clock_does_not_move_and_dates_in_utc() {
        let c = Clock::pinned(1_767_225_599_999); // 2025-12-31T23:59:59.999Z
        assert!(c.is_pinned());
        assert_eq!(c.read(), c.read());
        assert_eq!(c.read().1.to_string(), "2025-12-31");
    }

    #[test]
    fn the_local_zone_read_directly_agrees_with_jiffs_lookup() {
        // Summer and winter instants, so a zone with daylight saving is checked on both sides.
        for ms in [1_751_371_200_000, 1_767_225_600_000] {
            let t = jiff::Timestamp::from_millisecond(ms).unwrap();
            assert_eq!(
                local_zone().to_offset(t),
                jiff::tz::TimeZone::system().to_offset(t),
                "at {t}"
            );
        }
        let (ms, date) = Clock::system().read();
        let z = jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::system());
        assert_eq!(date.to_string(), z.date().to_string());
    }

    #[test]
    fn the_offset_sets_the_local_date() {
        let c = Clock::from_fn(|| (1_767_225_599_999, 3600));
        assert_eq!(c.read().1.to_string(), "2026-01-01");
    }
}
