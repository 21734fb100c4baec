"""The experiment figures and tiles: what each one draws, checked on small known inputs."""
import numpy as np

from cnn_core.plots import experiments as plots
from cnn_core.experiments import occlusion, pairing, quiz, robustness


def fake_probabilities(images):
    return np.tile(np.eye(10)[3], (len(images), 1))


def test_strip_titles_carry_each_answer():
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1
    answers = robustness.strip_answers(fake_probabilities, robustness.invariance_strip(image))
    grid = plots.strip_tiles(answers)
    labels = [tile.label for tile in grid.tiles]
    assert len(labels) == len(answers) and labels[0] == "as drawn: 3 (100%)"
    assert grid.legend is None  # digits need no colour scale


def test_occlusion_figure_lays_the_map_over_the_digit_on_a_fixed_labelled_scale():
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1

    def ink_model(images):  # the answer's probability is the share of the digit's ink left
        left = images.reshape(len(images), -1).sum(axis=1) / image.sum()
        return np.stack([left, 1 - left], axis=1)

    result = occlusion.occlusion_map(ink_model, image)
    figure = plots.occlusion_figure(image, result)
    overlay = figure.data[1]
    assert len(figure.data) == 2 and np.asarray(overlay.z).shape == (28, 28)
    # 0 to 100% whatever the digit: a small drop is not stretched to full colour...
    assert (overlay.zmin, overlay.zmax) == (0.0, 1.0)
    assert list(overlay.colorbar.ticktext) == ["0%", "25%", "50%", "75%", "100%"]
    # ...and the map's top is the largest drop a caption quotes.
    assert np.isclose(np.asarray(overlay.z).max(), result.drops.max())


def test_curves_are_in_numeric_order_one_line_per_model():
    side = {"rotation_accuracy": {"-30": 0.7, "0": 0.99, "30": 0.8, "-10": 0.95}}
    figure = plots.curve_figure({"cnn": side, "mlp": side}, "rotation_accuracy")
    assert len(figure.data) == 2 and list(figure.data[0].x) == [-30, -10, 0, 30]


def test_ranking_shows_the_largest_drops_first():
    ranking = {"filters": [{"block": 1, "filter": 4, "drop": 0.02}, {"block": 2, "filter": 0, "drop": 0.01}]}
    figure = plots.ranking_figure(ranking)
    assert list(figure.data[0].y) == ["conv1 #4", "conv2 #0"] and list(figure.data[0].x) == [2.0, 1.0]


def test_pairing_tiles_show_each_pair_side_by_side_with_its_similarity():
    kernels = np.random.default_rng(0).normal(size=(3, 3, 1, 4))
    grid = plots.pairing_tiles(kernels, kernels, pairing.pair_kernels(kernels, kernels))
    assert len(grid.tiles) == 4 and all(len(tile.sources) == 2 for tile in grid.tiles)
    assert all(tile.label.endswith("1.00") for tile in grid.tiles)
    # A pair whose partner is the kernel negated is drawn flipped back, and says so.
    flipped = plots.pairing_tiles(kernels, -kernels, pairing.pair_kernels(kernels, -kernels))
    assert all(tile.sources[0] == tile.sources[1] for tile in flipped.tiles)
    assert all("sign flipped" in tile.title for tile in flipped.tiles)


def test_quiz_options_are_labelled_a_b_c():
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1
    grid = plots.option_tiles(quiz.make_question(image, np.random.default_rng(0)))
    assert [tile.label for tile in grid.tiles] == ["A", "B", "C"]
