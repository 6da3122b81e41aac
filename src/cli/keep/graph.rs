//! `kith graph` and `kith stats`: the network as a picture and in figures.

use super::*;

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// dot (Graphviz), json, or svg (a picture, laid out by the layout-rs crate)
    #[arg(long, default_value = "dot", value_parser = ["dot", "json", "svg"])]
    pub format: String,
    /// Only contacts with this tag
    #[arg(long)]
    pub tag: Option<String>,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<std::path::PathBuf>,
}

/// `kith graph`.
pub fn graph(ctx: &Ctx, a: GraphArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let g = app.graph(a.tag.as_deref())?;
    let format = if ctx.json { "json" } else { a.format.as_str() };
    let text = match format {
        "json" => {
            let mut s =
                serde_json::to_string_pretty(&g).map_err(|e| AppError::user(e.to_string()))?;
            s.push('\n');
            s
        }
        "svg" => {
            if g.nodes.len() > crate::keep::graph::SVG_MAX_NODES {
                return Err(AppError::hint(
                    format!(
                        "the graph has {} nodes; an SVG is drawn for at most {}",
                        g.nodes.len(),
                        crate::keep::graph::SVG_MAX_NODES
                    ),
                    "narrow it with --tag, or use --format dot with Graphviz",
                ));
            }
            g.to_svg()
        }
        _ => g.to_dot(),
    };
    match &a.output {
        Some(p) => {
            crate::net::write_private(p, text.as_bytes())
                .map_err(|e| AppError::user(format!("cannot write {}: {e}", p.display())))?;
            out.note(format!(
                "wrote {} ({} nodes, {} edges)",
                p.display(),
                g.nodes.len(),
                g.edges.len()
            ));
            Ok(())
        }
        None => out.raw(text).map_err(io_err),
    }
}

/// `kith stats`.
pub fn stats(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let s = app.stats()?;
    if ctx.json {
        return out.json(&s).map_err(io_err);
    }
    out.line(format!(
        "{} contacts ({} archived), {} notes, {} interactions, {} open reminders, {} opportunities",
        s.contacts, s.archived, s.notes, s.interactions, s.reminders_open, s.opportunities
    ))
    .map_err(io_err)?;
    let list = |v: &[crate::keep::graph::Count]| -> String {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|c| format!("{} {}", c.name, c.count))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    out.line(format!("tags: {}", list(&s.tags)))
        .map_err(io_err)?;
    out.line(format!("kinds: {}", list(&s.kinds)))
        .map_err(io_err)?;
    out.line("interactions per month:").map_err(io_err)?;
    let max = s
        .per_month
        .iter()
        .map(|c| c.count)
        .max()
        .unwrap_or(0)
        .max(1);
    for c in &s.per_month {
        let bar = "#".repeat(((c.count * 30).div_ceil(max)) as usize);
        out.line(format!("  {}  {:>5}  {bar}", c.name, c.count))
            .map_err(io_err)?;
    }
    if !s.strongest.is_empty() {
        out.line("strongest ties:").map_err(io_err)?;
        for t in &s.strongest {
            out.line(format!(
                "  {}: {} interactions, last {}",
                t.name,
                t.interactions,
                t.last.as_deref().unwrap_or("never")
            ))
            .map_err(io_err)?;
        }
    }
    if !s.fading.is_empty() {
        out.line("fading ties:").map_err(io_err)?;
        for t in &s.fading {
            out.line(format!("  {}: {}", t.name, t.why))
                .map_err(io_err)?;
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["by", "r#in"])))]
pub struct PromiseArgs {
    /// Contact: id prefix, name or email
    pub contact: String,
    /// What you promised
    pub text: String,
    /// Keep it by: YYYY-MM-DD, today, tomorrow
    #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
    pub by: Option<String>,
    /// Keep it within: 3d, 2w, 6m, 1y
    #[arg(
        long = "in",
        id = "r#in",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub r#in: Option<String>,
}

/// `kith promise`: a reminder marked as a promise (listed by the digest until done).
pub fn promise(ctx: &Ctx, a: PromiseArgs, out: &mut Out) -> Result<(), AppError> {
    let by = match (&a.by, &a.r#in) {
        (Some(d), _) => app::parse_date(d, ctx.today)?,
        (None, Some(s)) => app::parse_span(s)?.add_to(ctx.today),
        (None, None) => return Err(AppError::user("give --by DATE or --in DURATION")),
    };
    let app = ctx.open()?;
    let rid = app.promise_ref(&a.contact, by, &a.text)?;
    if ctx.json {
        out.json(&serde_json::json!({ "id": rid, "due": by }))
            .map_err(io_err)
    } else {
        out.line(rid.to_hex()).map_err(io_err)?;
        out.note(format!(
            "promised by {by}; `kith done {}` when kept",
            rid.short()
        ));
        Ok(())
    }
}
