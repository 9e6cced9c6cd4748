"""Unit tests of the benchmark driver's arithmetic (standard library only):
python3 -m unittest discover -s scripts/bench"""

import unittest

import run


class Steady(unittest.TestCase):
    def test_epoch_one_is_left_out(self):
        self.assertEqual(run.steady([9.0, 1.0, 3.0, 2.0]), 2.0)

    def test_a_single_epoch_is_used_as_it_is(self):
        self.assertEqual(run.steady([4.0]), 4.0)


class TrainFlops(unittest.TestCase):
    def test_tutorial_network_by_hand(self):
        # Forward: 2 * (784*64 + 64*64 + 64*10) = 109,824 per image. Backward:
        # twice that, less the first layer's input gradient (2 * 784 * 64).
        forward = 2 * (784 * 64 + 64 * 64 + 64 * 10)
        per_train_image = forward + 2 * forward - 2 * 784 * 64
        self.assertEqual(per_train_image, 229_120)
        self.assertEqual(run.train_flops(64, 64, 60_000, 10_000),
                         60_000 * 229_120 + 10_000 * forward)

    def test_about_fourteen_gflop_per_tutorial_epoch_of_training(self):
        self.assertAlmostEqual(run.train_flops(64, 64, 60_000, 0) / 1e9, 13.7472, places=4)


class Formatting(unittest.TestCase):
    def test_milliseconds_and_microseconds(self):
        self.assertEqual(run.fmt_ms(0.0123), "12.30 ms")
        self.assertEqual(run.fmt_ms(7.4e-6), "7 µs")


if __name__ == "__main__":
    unittest.main()
