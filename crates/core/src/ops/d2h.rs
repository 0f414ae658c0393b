//! `d2h`: device-to-host copy into pinned memory (PCIe bandwidth), defined as
//! [`super::h2d::HostCopy`] in the other direction.

use super::h2d::HostCopy;
use crate::op::OpKind;

/// The device-to-host copy.
pub const D2H: HostCopy = HostCopy::new(
    OpKind::D2h,
    "d2h",
    "device-to-host copy into pinned memory (PCIe bandwidth)",
);
