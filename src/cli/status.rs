//! `klaxon status`: the running Klaxon's health summary, read from its HTTP API
//! (`/api/status`), at the address it wrote to the state directory (or `server.listen`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::telemetry::Status;
use crate::types::flat;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(short, long, default_value = "klaxon.yaml")]
    config: PathBuf,
    /// Print the JSON as the API serves it.
    #[arg(long)]
    json: bool,
}

pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::load_global(&args.config) {
        Ok(loaded) => loaded,
        Err(d) => {
            super::print_diagnostics(&d);
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut server = loaded.global.server.clone();
    super::listen_override(&mut server)?;
    let Some(config) = server.config() else {
        anyhow::bail!("the HTTP server is off (`server: none`): `klaxon status` reads it");
    };
    // The address the running server took (port 0 picks one), else the configured one.
    let addr = std::fs::read_to_string(loaded.global.state_dir.join(crate::pipeline::ADDR_FILE))
        .ok()
        .map(|a| a.trim().to_string())
        .filter(|a| a.parse::<std::net::SocketAddr>().is_ok())
        .unwrap_or_else(|| config.listen.clone());
    let url = format!("http://{addr}/api/status");
    let rt = crate::pipeline::runtime()?;
    let body = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?;
        let response = client.get(&url).send().await?;
        anyhow::Ok(response.text().await?)
    });
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            eprintln!("klaxon: no running Klaxon answers at {addr}: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let status: Status = serde_json::from_str(&body)?;
    if args.json {
        println!("{body}");
    } else {
        print!("{}", render(&status));
    }
    Ok(if status.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn render(s: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let _ = writeln!(
        out,
        "klaxon {} — {} — {} rules, up since {}",
        s.version,
        if s.ready { "ready" } else { "NOT READY" },
        s.rules,
        time(s.started_at)
    );
    for reason in &s.not_ready {
        let _ = writeln!(out, "  ✗ {}", flat(reason));
    }
    let _ = writeln!(
        out,
        "\nSOURCE\tREADING\tFILES\tREAD\tSKIPPED\tDECODED\tFAILED\tBEHIND(B)\tLAG(s)"
    );
    for src in &s.sources {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.1}",
            flat(&src.name),
            src.reading_text(),
            src.files,
            src.lines_read,
            src.lines_skipped,
            src.lines_decoded,
            src.decode_failures,
            src.checkpoint_lag_bytes,
            src.event_time_lag_seconds
        );
    }
    let _ = writeln!(out, "\nCHANNEL\tSENT\tFAILED\tDEAD\tWAITING\tBREAKER");
    for c in &s.channels {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            flat(&c.name),
            c.sent,
            c.failed,
            c.dead,
            c.outbox_depth,
            c.breaker_open_since
                .map_or("closed".into(), |t| format!("open since {}", time(t)))
        );
    }
    let _ = writeln!(
        out,
        "\nstore: {}{}",
        if s.store.writable {
            "writable"
        } else {
            "FAILING"
        },
        s.store
            .last_commit_at
            .map_or(String::new(), |t| format!(", last commit {}", time(t)))
    );
    if !s.warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS");
        for w in &s.warnings {
            let _ = writeln!(out, "  ⚠ {} (since {})", flat(&w.message), time(w.since));
        }
    }
    out
}
