use clap::Parser;

fn main() {
    let cli = kith::cli::Cli::parse();
    let mut out = kith::cli::Out::default();
    let result = kith::cli::run(cli, &mut out);
    let flushed = out.flush();
    let code = match result {
        Ok(()) => 0,
        Err(kith::app::AppError::Store(kith::store::StoreError::Io(p, e)))
            if p.as_os_str() == "stdout" && e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = e.hint_text() {
                eprintln!("hint: {h}");
            }
            e.exit_code()
        }
    };
    if code == 0 {
        if let Err(e) = flushed {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("error: cannot write to stdout: {e}");
                std::process::exit(4);
            }
        }
    }
    std::process::exit(code);
}
