use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use clap::Parser;
use kith::app::AppError;
use kith::store::StoreError;

/// Where and why the main thread panicked (file of the panic location, message).
static PANICKED: Mutex<Option<(String, String)>> = Mutex::new(None);

fn main() {
    // Everything kith creates (vault, backups, exports, recovery files) is private to the
    // user, whatever the umask.
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file mode creation mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
    // A panic on the main thread is reported as one `error:` line below, not as Rust's panic
    // message; other threads keep the default report.
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            let file = info
                .location()
                .map(|l| l.file().to_string())
                .unwrap_or_default();
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if let Ok(mut p) = PANICKED.lock() {
                *p = Some((file, msg));
            }
        } else {
            default_hook(info);
        }
    }));
    let cli = match kith::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(kith::cli::CommandError::from(e).print()),
    };
    let vault = kith::cli::vault_of(&cli);
    let mut out = kith::cli::Out::default();
    let result = match panic::catch_unwind(AssertUnwindSafe(|| kith::cli::run(cli, &mut out))) {
        Ok(r) => r,
        Err(_) => Err(panic_error(vault)),
    };
    let flushed = out.flush();
    // Classified, printed and turned into an exit code in one place: cli::command_error.
    let code = kith::cli::finish(result, flushed);
    std::process::exit(code);
}

/// The error for a panic caught on the main thread. redb panics only on inconsistent data in
/// the file, so a panic inside it means the vault is damaged; any other panic is a bug.
fn panic_error(vault: Option<std::path::PathBuf>) -> AppError {
    let (file, msg) = PANICKED
        .lock()
        .ok()
        .and_then(|mut p| p.take())
        .unwrap_or_default();
    let in_storage = file.contains("redb-") || file.contains("/redb/");
    match vault {
        Some(v) if in_storage => AppError::Store(StoreError::Corrupt(
            v,
            "the storage engine found inconsistent data".into(),
        )),
        _ => AppError::Store(StoreError::Internal(format!(
            "kith stopped on an unexpected condition ({}); this is a bug, please report it",
            msg.lines().next().unwrap_or("panic")
        ))),
    }
}
