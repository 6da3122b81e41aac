//! Concurrent first entries of multi-valued fields: two devices that each add the first phone,
//! tag and custom field of a synced contact keep both on both devices after a sync.

use serde_json::Value;

use crate::sync::{pair, Daemon, Dev};

fn values(show: &Value, field: &str, key: &str) -> Vec<String> {
    let mut v: Vec<String> = show[field]
        .as_object()
        .unwrap_or_else(|| panic!("{field} is an object: {show}"))
        .values()
        .map(|e| e[key].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn first_phones_added_on_two_devices_both_survive_a_sync() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    let ada = a.add("Ada Lovelace", &[]);
    pair(&a, &b);
    let before = b.json(&["show", &ada]);
    assert!(values(&before, "phones", "value").is_empty(), "{before}");

    // Offline, each device adds the contact's first phone, tag and custom field.
    a.ok(&["set", &ada, "phone", "+1 555 0100"]);
    a.ok(&["tag", &ada, "+math"]);
    a.ok(&["set", &ada, "custom.github", "ada"]);
    b.ok(&["set", &ada, "phone", "+44 20 7946 0000"]);
    b.ok(&["tag", &ada, "+poetry"]);
    b.ok(&["set", &ada, "custom.mastodon", "@ada"]);

    let daemon = Daemon::start(&a);
    b.ok(&["sync", "--timeout", "5"]);
    let stopped = daemon.stop();
    assert_eq!(stopped.code, 0, "daemon stops cleanly: {}", stopped.stderr);

    for (name, dev) in [("laptop", &a), ("desktop", &b)] {
        let show = dev.json(&["show", &ada]);
        assert_eq!(
            values(&show, "phones", "value"),
            ["+1 555 0100", "+44 20 7946 0000"],
            "{}: {show}",
            name
        );
        assert_eq!(
            show["tags"],
            serde_json::json!(["math", "poetry"]),
            "{}",
            name
        );
        assert_eq!(show["custom"]["github"], "ada", "{}", name);
        assert_eq!(show["custom"]["mastodon"], "@ada", "{}", name);
        assert!(show["conflicts"].as_array().unwrap().is_empty(), "{show}");
        // The index sees both entries: search finds the contact by either tag.
        for tag in ["math", "poetry"] {
            let found = dev.json(&["search", tag]);
            assert_eq!(
                found["hits"][0]["id"],
                ada.as_str(),
                "{name} {tag}: {found}"
            );
        }
    }
    assert_eq!(a.state(), b.state(), "both devices show the same");
}
