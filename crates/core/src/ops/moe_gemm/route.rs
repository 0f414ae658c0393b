//! The router of `moe_gemm`: which `top_k` distinct experts each token goes to, a pure
//! function of the shape (tokens, experts, top_k, zipf_x100, route_seed), so the cost model
//! counts exactly the experts the generated `topk_ids` touch ([`super::MoeGemm`]'s `work`
//! has no inputs). One splitmix64 stream seeded from `route_seed` draws everything.
//!
//! - `zipf_x100 = 0`: every token draws `top_k` experts uniformly without replacement
//!   (a partial Fisher–Yates shuffle).
//! - `zipf_x100 = 100·s > 0`: expert popularity ∝ 1/rank^s, the ranks a seeded permutation
//!   of the experts (drawn first); each token draws `top_k` experts without replacement,
//!   each draw proportional to the popularity of the experts not yet drawn.

use super::MoeShape;

/// splitmix64 (Steele, Lea, Flood 2014): a tiny, well-mixed 64-bit generator.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n ≥ 1`), by the multiply-shift map of 64 random bits.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A value uniform in [0, 1) with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The Zipf exponent s of the shape (`zipf_x100 / 100`); 0 for uniform routing.
pub fn zipf_exponent(p: &MoeShape) -> f64 {
    p.zipf_x100 as f64 / 100.0
}

/// A seeded permutation of `0..experts`: `ranks[e]` is expert `e`'s popularity rank, 0 the
/// most popular. Drawn first from `rng` under Zipf routing.
fn ranks(experts: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut by_rank: Vec<usize> = (0..experts).collect();
    for i in (1..experts).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        by_rank.swap(i, j);
    }
    let mut rank_of = vec![0; experts];
    for (rank, &e) in by_rank.iter().enumerate() {
        rank_of[e] = rank;
    }
    rank_of
}

/// Relative popularity of each expert, 1/(rank+1)^s (all 1 under uniform routing), and the
/// generator positioned after the ranks were drawn.
fn weights(p: &MoeShape) -> (Vec<f64>, SplitMix64) {
    let mut rng = SplitMix64::new(p.route_seed);
    let experts = p.experts as usize;
    if p.zipf_x100 == 0 {
        return (vec![1.0; experts], rng);
    }
    let s = zipf_exponent(p);
    let rank_of = ranks(experts, &mut rng);
    let w = rank_of.iter().map(|&r| ((r + 1) as f64).powf(-s)).collect();
    (w, rng)
}

/// The probability that one draw picks each expert (the popularity normalised to sum 1): 1/E
/// each under uniform routing, (1/rank^s)/Σᵣ(1/r^s) under Zipf.
pub fn popularity(p: &MoeShape) -> Vec<f64> {
    let (w, _) = weights(p);
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

/// The routing: `tokens·top_k` expert ids, token-major, each token's `top_k` distinct.
pub fn route(p: &MoeShape) -> Vec<u32> {
    let (experts, top_k) = (p.experts as usize, p.top_k as usize);
    let mut ids = Vec::with_capacity(p.pairs() as usize);
    let (w, mut rng) = weights(p);
    if p.zipf_x100 == 0 {
        // A partial Fisher–Yates shuffle per token over one array that is never reset: any
        // starting order gives a uniform ordered sample of distinct experts.
        let mut perm: Vec<u32> = (0..experts as u32).collect();
        for _ in 0..p.tokens {
            for j in 0..top_k {
                let r = j + rng.below((experts - j) as u64) as usize;
                perm.swap(j, r);
            }
            ids.extend_from_slice(&perm[..top_k]);
        }
        return ids;
    }
    let total: f64 = w.iter().sum();
    let mut taken = vec![false; experts];
    for _ in 0..p.tokens {
        let first = ids.len();
        let mut left = total;
        for _ in 0..top_k {
            let u = rng.unit() * left;
            let mut acc = 0.0;
            // Rounding may leave u at or past the remaining mass: the last free expert then.
            let mut pick = None;
            for (e, &we) in w.iter().enumerate() {
                if taken[e] {
                    continue;
                }
                pick = Some(e);
                acc += we;
                if u < acc {
                    break;
                }
            }
            let e = pick.unwrap_or(0);
            taken[e] = true;
            left -= w[e];
            ids.push(e as u32);
        }
        for &e in &ids[first..] {
            taken[e as usize] = false;
        }
    }
    ids
}

/// Tokens routed to each expert by `ids` (entries outside `0..experts` are not counted).
pub fn expert_counts(ids: &[u32], experts: u64) -> Vec<u64> {
    let mut counts = vec![0u64; experts as usize];
    for &e in ids {
        if let Some(c) = counts.get_mut(e as usize) {
            *c += 1;
        }
    }
    counts
}

/// Distinct experts the routing of `p` sends at least one token to (the experts whose
/// weights a grouped GEMM reads).
pub fn touched_experts(p: &MoeShape) -> u64 {
    expert_counts(&route(p), p.experts)
        .iter()
        .filter(|&&c| c > 0)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn shape(tokens: u64, experts: u64, top_k: u64, zipf_x100: u64, seed: u64) -> MoeShape {
        MoeShape {
            tokens,
            experts,
            top_k,
            n: 8,
            k: 8,
            zipf_x100,
            route_seed: seed,
        }
    }

    #[test]
    fn splitmix64_first_outputs() {
        // The reference implementation's first outputs from seed 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn every_token_gets_top_k_distinct_experts() {
        for zipf in [0, 120, 300] {
            let p = shape(500, 16, 6, zipf, 3);
            let ids = route(&p);
            assert_eq!(ids.len(), 3000);
            for t in ids.chunks(6) {
                let set: HashSet<_> = t.iter().collect();
                assert_eq!(set.len(), 6, "{t:?}");
                assert!(t.iter().all(|&e| e < 16));
            }
        }
        // top_k = experts: every token takes every expert.
        let ids = route(&shape(3, 4, 4, 120, 0));
        for t in ids.chunks(4) {
            let mut v = t.to_vec();
            v.sort_unstable();
            assert_eq!(v, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn uniform_routing_loads_every_expert_about_equally() {
        // 20000 tokens × 8 of 64 experts: each expert expects 2500 tokens, σ = √(2500·(1 −
        // 1/8)) ≈ 47; every count within 5σ = 235 of 2500.
        let counts = expert_counts(&route(&shape(20_000, 64, 8, 0, 11)), 64);
        for (e, &c) in counts.iter().enumerate() {
            assert!((2265..=2735).contains(&c), "expert {e}: {c}");
        }
    }

    #[test]
    fn zipf_puts_the_expected_share_on_rank_one() {
        // s = 1.2 over 64 experts, one draw per token: the most popular expert's share is
        // p₁ = 1/Σ_{r=1}^{64} r^−1.2, summed here independently of `popularity`.
        let h: f64 = (1..=64).map(|r| (r as f64).powf(-1.2)).sum();
        let p1 = 1.0 / h;
        let p = shape(40_000, 64, 1, 120, 5);
        let pop = popularity(&p);
        let top = (0..64).max_by(|&a, &b| pop[a].total_cmp(&pop[b])).unwrap();
        assert!((pop[top] - p1).abs() < 1e-12, "{} vs {p1}", pop[top]);
        let counts = expert_counts(&route(&p), 64);
        let share = counts[top] as f64 / 40_000.0;
        // σ of the share = √(p₁(1−p₁)/40000) ≈ 0.0022; 5σ.
        assert!((share - p1).abs() < 0.011, "share {share} vs p1 {p1}");
        assert_eq!(counts.iter().copied().max(), Some(counts[top]));
        // Two draws without replacement: P(rank 1 among them) = p₁ + Σ_{i≠1} pᵢ·p₁/(1 − pᵢ).
        let p2 = shape(40_000, 64, 2, 120, 5);
        let pop = popularity(&p2);
        let q: f64 = p1
            + (0..64)
                .filter(|&i| i != top)
                .map(|i| pop[i] * p1 / (1.0 - pop[i]))
                .sum::<f64>();
        let share = expert_counts(&route(&p2), 64)[top] as f64 / 40_000.0;
        assert!((share - q).abs() < 0.012, "share {share} vs {q}");
    }

    #[test]
    fn same_seed_same_routing_other_seed_other_routing() {
        for zipf in [0, 120] {
            let a = route(&shape(64, 32, 4, zipf, 7));
            assert_eq!(a, route(&shape(64, 32, 4, zipf, 7)));
            assert_ne!(a, route(&shape(64, 32, 4, zipf, 8)));
        }
    }

    #[test]
    fn touched_experts_counts_distinct_ids() {
        // One token, 8 of 256 experts: exactly 8 touched; 4096 tokens × 8: all 256.
        assert_eq!(touched_experts(&shape(1, 256, 8, 0, 0)), 8);
        assert_eq!(touched_experts(&shape(4096, 256, 8, 0, 0)), 256);
        assert_eq!(expert_counts(&[0, 2, 2, 9], 4), vec![1, 0, 2, 0]);
    }
}
