//! One module per subcommand.

pub mod devices;
pub mod list;
pub mod run;
mod run_plan;
