//! One module per subcommand.

pub mod ab;
pub mod compare;
pub mod devices;
pub mod fleet;
pub mod floors;
pub mod gap;
pub mod kernels;
pub mod list;
pub mod model_run;
pub mod report;
pub mod run;
mod run_list;
mod run_roofs;
pub mod validate;
