//! `kith stats` after its speed-up (issue 11's targets): its fading ties are the digest's,
//! computed from the same `ix_contact_days` rows without building a digest, and its strongest
//! ties are ranked before any name is read, keeping every contact tied at the cut.

use serde_json::Value;

use crate::env::TestEnv;

fn field(section: &Value, key: &str) -> Vec<String> {
    section
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {section}"))
        .iter()
        .map(|l| l[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// One call on each day with everyone in `who` (one interaction per day).
fn calls(t: &TestEnv, who: &[&str], days: &[&str]) {
    for d in days {
        let mut args = vec!["log", "--kind", "call", "--on", d];
        for w in who {
            args.push("--about");
            args.push(w);
        }
        args.push("a call");
        t.ok(&args);
    }
}

pub(crate) const MONTHLY_TO_MARCH: [&str; 7] = [
    "2025-10-01",
    "2025-11-01",
    "2025-12-01",
    "2026-01-01",
    "2026-02-01",
    "2026-03-01",
    "2026-03-29",
];

#[test]
fn stats_fading_ties_are_the_digests_in_the_same_order() {
    // NOW is 2026-11-22.
    let t = TestEnv::new();
    let grace = t.add("Grace Hopper", &[]);
    let hal = t.add("Hal Jordan", &[]);
    let carl = t.add("Carl Cadence", &[]);
    let ann = t.add("Ann Archived", &[]);
    let ada = t.add("Ada Lovelace", &[]);
    // Grace and the two who will be left out: monthly until March, silent since.
    calls(&t, &[&grace, &carl, &ann], &MONTHLY_TO_MARCH);
    // Hal: monthly until June: fading too, with a shorter gap, so listed after Grace.
    calls(
        &t,
        &[&hal],
        &[
            "2026-01-01",
            "2026-02-01",
            "2026-03-01",
            "2026-04-01",
            "2026-05-01",
            "2026-06-01",
        ],
    );
    // Ada: weekly and recent: not fading.
    calls(
        &t,
        &[&ada],
        &["2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15"],
    );
    // Carl has a cadence, so the digest lists him as overdue, not as fading; Ann is archived.
    t.ok(&["set", &carl, "every", "30d"]);
    t.ok(&["rm", &ann]);

    let d = t.json(&["digest"]);
    assert_eq!(field(&d["overdue"], "name"), ["Carl Cadence"]);
    assert_eq!(field(&d["fading"], "name"), ["Grace Hopper", "Hal Jordan"]);
    let s = t.json(&["stats"]);
    assert_eq!(
        field(&s["fading"], "id"),
        field(&d["fading"], "id"),
        "{s:#}"
    );
    assert_eq!(field(&s["fading"], "name"), field(&d["fading"], "name"));
    assert_eq!(field(&s["fading"], "why"), field(&d["fading"], "why"));
    // A fading tie's last interaction is the digest line's date.
    assert_eq!(field(&s["fading"], "last"), field(&d["fading"], "date"));
    assert_eq!(s["fading"][0]["last"], "2026-03-29");
    assert_eq!(s["fading"][0]["interactions"], 7);
    assert_eq!(s["fading"][1]["interactions"], 6);

    // Without the cadence Carl fades like Grace (same days: by name after her); Ann stays out.
    t.ok(&["set", &carl, "every", ""]);
    let d = t.json(&["digest"]);
    let names = ["Carl Cadence", "Grace Hopper", "Hal Jordan"];
    assert_eq!(field(&d["fading"], "name"), names);
    assert_eq!(field(&t.json(&["stats"])["fading"], "name"), names);
}

#[test]
fn strongest_ties_keep_every_contact_tied_at_the_cut_by_name() {
    let t = TestEnv::new();
    // Twelve people met together twice: all tied on count and last day, so the ten listed
    // are the first by name, whatever their ids.
    let names: Vec<String> = (1..=12).map(|i| format!("Peer {:02}", 13 - i)).collect();
    let ids: Vec<String> = names.iter().map(|n| t.add(n, &[])).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    calls(&t, &refs, &["2026-10-01", "2026-10-08"]);
    // Zed: three calls, the most; Tom: two, the last one later than the peers'.
    let zed = t.add("Zed Most", &[]);
    calls(&t, &[&zed], &["2026-09-01", "2026-09-02", "2026-09-03"]);
    let tom = t.add("Tom Later", &[]);
    calls(&t, &[&tom], &["2026-09-01", "2026-11-01"]);

    let s = t.json(&["stats"]);
    let mut want = vec!["Zed Most".to_string(), "Tom Later".to_string()];
    let mut peers = names.clone();
    peers.sort();
    want.extend(peers.into_iter().take(8));
    assert_eq!(field(&s["strongest"], "name"), want, "{s:#}");
    assert_eq!(s["strongest"][0]["interactions"], 3);
    assert_eq!(s["strongest"][1]["last"], "2026-11-01");
    assert_eq!(s["strongest"][9]["name"], "Peer 08");
    assert_eq!(s["strongest"][9]["last"], "2026-10-08");
    assert_eq!(s["strongest"].as_array().unwrap().len(), 10);
}
