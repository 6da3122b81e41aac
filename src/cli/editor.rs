//! Starting the user's editor (`$VISUAL`, `$EDITOR`, else `vi`) and telling a missing program
//! from a failing one.
//!
//! Invariant: a missing or failing editor is one error naming it, with a hint; the caller keeps
//! the user's text.

use crate::app::AppError;

/// Opens `$VISUAL` or `$EDITOR` (default `vi`) on `path` and waits for it.
pub fn run_editor(path: &std::path::Path) -> Result<(), AppError> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_string());
    if let Some(program) = missing_program(&editor) {
        return Err(AppError::hint(
            format!("the editor '{editor}' could not be started: '{program}' was not found or is not executable; nothing was changed"),
            "set EDITOR (or VISUAL) to an editor installed on this machine, e.g. EDITOR=nano",
        ));
    }
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("kith-editor")
        .arg(path)
        .status()
        .map_err(|e| {
            AppError::hint(
                format!("cannot start the editor '{editor}': {e}"),
                "set EDITOR to your editor's command",
            )
        })?;
    // The shell reports a command it cannot find (127) or run (126) through its exit code.
    if matches!(status.code(), Some(126 | 127)) {
        return Err(AppError::hint(
            format!(
                "the editor '{editor}' could not be started (exit {}: {}); nothing was changed",
                status.code().unwrap_or_default(),
                if status.code() == Some(127) {
                    "command not found"
                } else {
                    "not executable"
                }
            ),
            "set EDITOR (or VISUAL) to an editor installed on this machine, e.g. EDITOR=nano",
        ));
    }
    if !status.success() {
        return Err(AppError::hint(
            format!("the editor '{editor}' exited with {status}; nothing was changed"),
            "save and quit the editor normally to apply the edit",
        ));
    }
    Ok(())
}

/// The editor command's program when it can be seen not to exist (a path that is not an
/// executable file, or a name found on no PATH directory). None when it exists or the command
/// is too involved to tell (quotes, shell syntax): the shell then reports it.
pub(crate) fn missing_program(editor: &str) -> Option<String> {
    let program = editor.split_whitespace().next()?;
    if program.contains(['"', '\'', '$', '`', '\\', '=']) {
        return None;
    }
    let runnable = |p: &std::path::Path| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            p.is_file()
        }
    };
    let found = if program.contains('/') {
        runnable(std::path::Path::new(program))
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|d| runnable(&d.join(program)))
    };
    (!found).then(|| program.to_string())
}
