//! `hotpath devices`: backends found, their devices, and why a backend is missing.

use serde::Serialize;

use hotpath_core::units::bytes_decimal;
use hotpath_core::{DeviceInfo, Error, Result};

use crate::backends;
use crate::cli::{DevicesArgs, Format, Outcome};

#[derive(Serialize)]
struct BackendReport {
    backend: &'static str,
    available: bool,
    reason: Option<String>,
    devices: Vec<DeviceInfo>,
}

/// Prints every backend and its devices (or the reason it has none).
pub fn run(args: &DevicesArgs) -> Result<Outcome> {
    let reports: Vec<BackendReport> = backends::all()
        .iter()
        .map(|slot| match backends::probe(slot) {
            Ok(devices) => BackendReport {
                backend: slot.name,
                available: true,
                reason: None,
                devices,
            },
            Err(reason) => BackendReport {
                backend: slot.name,
                available: false,
                reason: Some(reason),
                devices: vec![],
            },
        })
        .collect();
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&reports)
                .map_err(|e| Error::backend(format!("cannot serialize devices: {e}")))?;
            println!("{text}");
        }
        _ => {
            for r in &reports {
                match &r.reason {
                    Some(reason) => println!("{}: unavailable: {reason}", r.backend),
                    None => {
                        println!("{}: {} device(s)", r.backend, r.devices.len());
                        for d in &r.devices {
                            println!(
                                "  [{}] {} | {} | {} memory ({} free) | {} compute units | LLC {}{}",
                                d.index,
                                d.name,
                                d.arch,
                                bytes_decimal(d.memory_bytes as f64),
                                bytes_decimal(d.memory_available_bytes as f64),
                                d.compute_units,
                                bytes_decimal(d.llc_bytes as f64),
                                d.driver.as_ref().map(|v| format!(" | driver {v}")).unwrap_or_default()
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
