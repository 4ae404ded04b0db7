//! `panier status` and `panier setup-code`.

use super::{CliError, JsonArg, SocketArg, print_json};
use crate::i18n::messages;
use crate::names::Language;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    json: JsonArg,
}

fn gib(b: Option<u64>) -> String {
    b.map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
        .unwrap_or_else(|| "—".into())
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let report: serde_json::Value = args.socket.client().get("/api/v1/status").await?;
    if args.json.json {
        print_json(&report);
        return Ok(());
    }
    let lang = Language::parse(report["language"].as_str().unwrap_or("fr")).unwrap_or_default();
    let t = messages(lang);
    if report["mode"] == "diagnostic" {
        let d = &report["diagnosis"];
        let reason = d["reason"].as_str().unwrap_or("");
        println!(
            "DIAGNOSTIC: {}",
            t.get(&format!("diagnostic.reason.{reason}"))
        );
        println!("  {}", d["detail"].as_str().unwrap_or(""));
        for k in d["kept_aside"].as_array().into_iter().flatten() {
            println!("  kept aside: {}", k.as_str().unwrap_or(""));
        }
        println!("{}", t.get("diagnostic.recover_restore"));
        println!("{}", t.get("diagnostic.recover_fresh"));
        println!(
            "{} panier diagnostic clear --data-dir {}",
            t.get("diagnostic.command"),
            report["data_dir"].as_str().unwrap_or("")
        );
        return Ok(());
    }
    let r = &report["readings"];
    let name = report["box_name"].as_str().unwrap_or("(setup not done)");
    println!("box:      {name}");
    println!("version:  {}", report["version"].as_str().unwrap_or(""));
    println!(
        "setup:    {}",
        if report["setup_done"] == true {
            "done"
        } else {
            "waiting for the setup wizard (panier setup-code)"
        }
    );
    let addrs: Vec<&str> = r["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .collect();
    println!("address:  {}", addrs.join(", "));
    let used = |total: &serde_json::Value, free: &serde_json::Value| {
        total.as_u64().zip(free.as_u64()).map(|(t, f)| t - f)
    };
    println!(
        "memory:   {} of {}",
        gib(used(&r["memory_total_bytes"], &r["memory_available_bytes"])),
        gib(r["memory_total_bytes"].as_u64())
    );
    println!(
        "disk:     {} of {}",
        gib(used(&r["disk_total_bytes"], &r["disk_free_bytes"])),
        gib(r["disk_total_bytes"].as_u64())
    );
    if let Some(c) = r["temperature_celsius"].as_f64() {
        println!("cpu temp: {c:.0} °C");
    }
    let issues = report["issues"].as_array().cloned().unwrap_or_default();
    if issues.is_empty() {
        println!("health:   {}", t.get("dashboard.all_good"));
    }
    for issue in issues {
        let key = issue["key"].as_str().unwrap_or("");
        let args: Vec<(String, String)> =
            serde_json::from_value(issue["args"].clone()).unwrap_or_default();
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        println!(
            "{}: {} {}",
            issue["severity"].as_str().unwrap_or(""),
            t.fmt(&format!("health.{key}.what"), &args),
            t.fmt(&format!("health.{key}.fix"), &args)
        );
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct SetupCodeArgs {
    #[command(flatten)]
    socket: SocketArg,
}

pub async fn run_setup_code(args: SetupCodeArgs) -> Result<(), CliError> {
    let body: serde_json::Value = args.socket.client().get("/api/v1/setup-code").await?;
    match body["code"].as_str() {
        Some(code) => println!("{code}"),
        None => {
            return Err(CliError::Usage(
                "setup is already done: there is no setup code any more".into(),
            ));
        }
    }
    Ok(())
}
