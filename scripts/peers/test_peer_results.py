"""Tests of peer_results.py (no torch): statistics by hand, the peer entry, the table.

    python3 -m unittest discover -s scripts/peers
"""

import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_results  # noqa: E402


def ours_gemv():
    return {
        "id": "gemv/m=1,n=4096,k=4096/bf16/hotpath",
        "op": "gemv",
        "shape": {"m": 1, "n": 4096, "k": 4096},
        "dtype": "bf16",
        "impl": "hotpath",
        "status": "ok",
        "flops": 33554432,
        "bytes": 33570816,
        "time": {"median_s": 0.002},
        "roofline": {"intensity": 0.9995, "bound": "memory", "efficiency_spec": 0.5,
                     "efficiency_measured": 0.8, "floor_measured_s": 0.0016},
    }


class Stats(unittest.TestCase):
    def test_time_stats_by_hand(self):
        # Samples 1, 2, 3, 4, 10 ms: mean 4; squared deviations 9+4+1+0+36 = 50, over n-1 = 4:
        # stdev sqrt(12.5); p10 at rank 0.4 between 1 and 2: 1.4; p90 at rank 3.6 between 4
        # and 10: 7.6; deviations from the median 3 are 2,1,0,1,7: their median is 1.
        ms = [x * 1e-3 for x in (4, 1, 10, 3, 2)]
        s, rse, cv = peer_results.time_stats(ms)
        want = {"median_s": 3, "min_s": 1, "mean_s": 4, "stdev_s": math.sqrt(12.5),
                "p10_s": 1.4, "p90_s": 7.6, "mad_s": 1}
        for k, v in want.items():
            self.assertAlmostEqual(s[k], v * 1e-3, places=12, msg=k)
        self.assertAlmostEqual(rse, math.sqrt(12.5) / math.sqrt(5) / 4, places=12)
        self.assertAlmostEqual(cv, math.sqrt(12.5) / 4, places=12)

    def test_one_sample(self):
        s, rse, _ = peer_results.time_stats([0.5])
        self.assertEqual((s["median_s"], s["p10_s"], s["stdev_s"]), (0.5, 0.5, 0.0))
        self.assertEqual(rse, math.inf)


class Entry(unittest.TestCase):
    def test_the_same_work_at_the_peer_time(self):
        # Twice our median: half our efficiency against the same roofs, half our rates.
        e = peer_results.peer_benchmark(ours_gemv(), "torch", [0.004] * 10, None, {"mode": "cold"}, "events")
        self.assertEqual(e["id"], "gemv/m=1,n=4096,k=4096/bf16/torch")
        self.assertEqual((e["impl"], e["flops"], e["bytes"], e["status"]), ("torch", 33554432, 33570816, "ok"))
        self.assertAlmostEqual(e["roofline"]["efficiency_measured"], 0.4)
        self.assertAlmostEqual(e["roofline"]["efficiency_spec"], 0.25)
        self.assertEqual(e["roofline"]["floor_measured_s"], 0.0016)
        self.assertAlmostEqual(e["rates"]["bytes_per_s"], 33570816 / 0.004)

    def test_a_failed_check_is_a_failed_status(self):
        e = peer_results.peer_benchmark(ours_gemv(), "torch", [0.004] * 10, {"pass": False}, {}, "events")
        self.assertEqual(e["status"], "failed")

    def test_bad_samples_are_refused(self):
        for bad in ([], [0.0], [-1.0], [float("nan")]):
            with self.assertRaises(ValueError):
                peer_results.peer_benchmark(ours_gemv(), "torch", bad, None, {}, "events")


class Ours(unittest.TestCase):
    def test_our_own_kernel_stands_for_an_id_in_either_order(self):
        candle = dict(ours_gemv(), id="gemv/m=1,n=4096,k=4096/bf16/candle", impl="candle")
        for order in ([candle, ours_gemv()], [ours_gemv(), candle]):
            got = peer_results.ours_by_key({"benchmarks": order})
            self.assertEqual(list(got), ["gemv/m=1,n=4096,k=4096/bf16"])
            self.assertEqual(got["gemv/m=1,n=4096,k=4096/bf16"]["impl"], "hotpath")
        # Without our kernel, the vendor library's entry stands for the id.
        self.assertEqual(peer_results.ours_by_key({"benchmarks": [candle]})["gemv/m=1,n=4096,k=4096/bf16"]["impl"], "candle")


class Table(unittest.TestCase):
    def test_ratio_and_shares(self):
        ours = {"benchmarks": [ours_gemv()]}
        peer = peer_results.peer_benchmark(ours_gemv(), "torch", [0.003] * 10, None, {}, "events")
        t = peer_results.table(ours, {"benchmarks": [peer]})
        row = t.splitlines()[2]
        self.assertIn("| gemv/m=1,n=4096,k=4096/bf16 | 2.000 ms | torch | 3.000 ms | 1.50 |", row)
        self.assertIn("| 80.0 % | 50.0 % | 53.3 % | 33.3 % |", row)


if __name__ == "__main__":
    unittest.main()
