"""Unit tests of the benchmark driver's arithmetic (standard library only):
python3 -m unittest discover -s scripts/bench"""

import unittest

import run
import speedrun


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
    def test_a_wide_row_splits_the_passes_into_products_and_the_rest(self):
        profile = {
            "network": "784-512-512-10 relu",
            "total_seconds": 5.0,
            "seconds": {"forward": 1.5, "backward": 2.5, "optimizer": 0.5,
                        "products": {"count": 3752, "gflop": 180.0, "inside": 3.6, "alone": 3.0}},
        }
        self.assertEqual(run.wide_row(profile),
                         "| 784-512-512-10 relu | 4.00 | 3.60 (50) | 3.00 (60) | 83% | 0.40 | 0.50 | 5.00 |")

    def test_milliseconds_and_microseconds(self):
        self.assertEqual(run.fmt_ms(0.0123), "12.30 ms")
        self.assertEqual(run.fmt_ms(7.4e-6), "7 µs")


def epochs(*pairs):
    return [{"epoch": i + 1, "seconds": s, "valid_accuracy": a} for i, (s, a) in enumerate(pairs)]


class SpeedRun(unittest.TestCase):
    def test_time_to_a_target_sums_the_epochs_up_to_the_first_at_or_above_it(self):
        race = epochs((2.0, 0.97), (1.5, 0.985), (1.5, 0.98), (1.0, 0.99))
        self.assertEqual(speedrun.time_to(race, 0.98), (3.5, 2))
        self.assertEqual(speedrun.time_to(race, 0.99), (6.0, 4))
        self.assertIsNone(speedrun.time_to(race, 0.995))
        self.assertIsNone(speedrun.time_to([], 0.5))

    def test_a_cell_is_the_mean_over_seeds_or_how_far_they_got(self):
        one = epochs((30.0, 0.98), (40.0, 0.99))
        two = epochs((50.0, 0.99))
        self.assertEqual(speedrun.reached([one, two], 0.98), "40.0 s (epoch 1/1)")
        self.assertEqual(speedrun.reached([one, two], 0.99), "1 min 00.0 s (epoch 2/1)")
        self.assertEqual(speedrun.reached([one, epochs((50.0, 0.5))], 0.99),
                         "reached by 1 of 2 seeds only, in 1 min 10.0 s")
        self.assertEqual(speedrun.reached([two], 0.995), "not reached in 50.0 s")

    def test_a_recipe_fills_in_the_defaults_of_a_resolved_config(self):
        recipe = speedrun.recipe({"epochs": 600, "batch_size": 128, "model": {"hidden": [800, 800]},
                                  "optimizer": {"kind": "adamw", "weight_decay": 0.01},
                                  "augment": {"elastic_alpha": 34}})
        self.assertEqual((recipe["hidden"], recipe["optimizer"], recipe["learning_rate"]),
                         ([800, 800], "adamw", 0.001))
        self.assertEqual((recipe["elastic_alpha"], recipe["rotation"], recipe["schedule"]),
                         (34, 0.0, "constant"))


if __name__ == "__main__":
    unittest.main()
