//! How a provider rounds a pod's requests to the size it bills: ECI rounds up to a supported
//! vCPU/memory specification, EKS on Fargate adds 256 MiB and rounds up to its size table.

use serde::{Deserialize, Serialize};

/// The size rule the virtual node bills pods by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BillableSizes {
    /// The pod's requests as they are.
    #[default]
    Requested,
    /// Alibaba Cloud ECI: the cheapest supported specification with at least the requested vCPU
    /// and memory (the specifications every ECI region offers).
    Eci,
    /// AWS EKS on Fargate: 256 MiB added for kubelet, kube-proxy and containerd, then the
    /// cheapest vCPU/memory combination of the table with at least that much.
    Fargate,
}

/// ECI's specifications offered in every region: vCPU and its memory sizes, GiB. Source:
/// <https://help.aliyun.com/zh/eci/user-guide/specify-the-number-of-vcpus-and-memory-size-to-create-an-elastic-container-instance>
/// ("如果指定的vCPU和内存不符合要求,系统将自动按照ECI支持的规格进行规整").
const ECI: &[(f64, &[f64])] = &[
    (0.25, &[0.5, 1.0]),
    (0.5, &[1.0, 2.0]),
    (1.0, &[2.0, 4.0, 8.0]),
    (2.0, &[1.0, 2.0, 4.0, 8.0, 16.0]),
    (4.0, &[2.0, 4.0, 8.0, 16.0, 32.0]),
    (8.0, &[4.0, 8.0, 16.0, 32.0, 64.0]),
    (12.0, &[12.0, 24.0, 48.0, 96.0]),
    (16.0, &[16.0, 32.0, 64.0, 128.0]),
    (24.0, &[24.0, 48.0, 96.0, 192.0]),
    (32.0, &[32.0, 64.0, 128.0, 256.0]),
    (52.0, &[96.0, 192.0, 384.0]),
    (64.0, &[128.0, 256.0, 512.0]),
];

/// Fargate's pod sizes: vCPU, and its memory range (from, to, step), GB (taken as GiB). Source:
/// <https://docs.aws.amazon.com/eks/latest/userguide/fargate-pod-configuration.html>.
const FARGATE: &[(f64, f64, f64, f64)] = &[
    (0.25, 0.5, 0.5, 1.0),
    (0.25, 1.0, 2.0, 1.0),
    (0.5, 1.0, 4.0, 1.0),
    (1.0, 2.0, 8.0, 1.0),
    (2.0, 4.0, 16.0, 1.0),
    (4.0, 8.0, 30.0, 1.0),
];

/// Memory Fargate adds to every pod for its Kubernetes components, GiB (256 MiB).
pub const FARGATE_OVERHEAD_GIB: f64 = 0.25;

impl BillableSizes {
    /// Every size this rule bills by (vCPU, GiB); empty for [`BillableSizes::Requested`].
    pub fn sizes(self) -> Vec<(f64, f64)> {
        match self {
            Self::Requested => Vec::new(),
            Self::Eci => ECI.iter().flat_map(|&(cpu, mems)| mems.iter().map(move |&m| (cpu, m))).collect(),
            Self::Fargate => FARGATE
                .iter()
                .flat_map(|&(cpu, from, to, step)| {
                    let steps = ((to - from) / step).round();
                    // A handful of steps per row: the cast cannot truncate.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let steps = steps as u32;
                    (0..=steps).map(move |i| (cpu, from + f64::from(i) * step))
                })
                .collect(),
        }
    }

    /// The size a pod requesting `cpu` vCPU and `memory_gib` GiB is billed as, at the given unit
    /// prices (the cheapest size that holds it; ties: fewer vCPU); `None` when none does.
    pub fn billed(self, cpu: f64, memory_gib: f64, per_vcpu: f64, per_gib: f64) -> Option<(f64, f64)> {
        let memory = if self == Self::Fargate { memory_gib + FARGATE_OVERHEAD_GIB } else { memory_gib };
        if self == Self::Requested {
            return Some((cpu, memory));
        }
        let slack = 1e-9;
        self.sizes().into_iter().filter(|&(c, m)| c + slack >= cpu && m + slack >= memory).min_by(|a, b| {
            let price = |(c, m): (f64, f64)| c * per_vcpu + m * per_gib;
            price(*a).total_cmp(&price(*b)).then(a.0.total_cmp(&b.0))
        })
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // table sizes are exact
mod tests {
    use super::*;

    const ECI_VCPU: f64 = 0.000_049;
    const ECI_GIB: f64 = 0.000_006_13;

    #[test]
    fn eci_rounds_up_to_the_cheapest_specification_that_holds_the_pod() {
        let eci = BillableSizes::Eci;
        assert_eq!(eci.billed(1.0, 2.0, ECI_VCPU, ECI_GIB), Some((1.0, 2.0)), "a supported size stays");
        // The page's own example: 7 vCPU, 13 GiB is billed as 8 vCPU, 16 GiB.
        assert_eq!(eci.billed(7.0, 13.0, ECI_VCPU, ECI_GIB), Some((8.0, 16.0)));
        assert_eq!(eci.billed(0.3, 0.6, ECI_VCPU, ECI_GIB), Some((0.5, 1.0)));
        assert_eq!(eci.billed(1.0, 5.0, ECI_VCPU, ECI_GIB), Some((1.0, 8.0)));
        assert_eq!(eci.billed(65.0, 1.0, ECI_VCPU, ECI_GIB), None, "larger than any specification");
    }

    #[test]
    fn fargate_adds_256_mib_then_rounds_up_to_its_table() {
        let fargate = BillableSizes::Fargate;
        let (vcpu, gib) = (0.04048 / 3600.0, 0.004_445 / 3600.0);
        // 1 vCPU 2 GiB needs 2.25 GiB: billed 1 vCPU 3 GB.
        assert_eq!(fargate.billed(1.0, 2.0, vcpu, gib), Some((1.0, 3.0)));
        assert_eq!(fargate.billed(0.25, 0.25, vcpu, gib), Some((0.25, 0.5)));
        assert_eq!(fargate.billed(0.25, 1.7, vcpu, gib), Some((0.25, 2.0)));
        // 1.8 GiB + 256 MiB is over the 0.25 vCPU sizes: the next vCPU step bills it.
        assert_eq!(fargate.billed(0.25, 1.8, vcpu, gib), Some((0.5, 3.0)));
        assert_eq!(fargate.billed(3.0, 9.5, vcpu, gib), Some((4.0, 10.0)));
        assert_eq!(fargate.billed(4.0, 30.0, vcpu, gib), None, "30 GiB + 256 MiB is over the table");
        assert_eq!(fargate.sizes().len(), 3 + 4 + 7 + 13 + 23);
    }

    #[test]
    fn requested_bills_the_pod_as_it_is() {
        assert_eq!(BillableSizes::Requested.billed(0.3, 0.7, 1.0, 1.0), Some((0.3, 0.7)));
    }
}
