"""The experiment figures: what each one draws, checked on small known inputs."""
import numpy as np

from cnn_core.plots import experiments as plots
from cnn_core.experiments import occlusion, pairing, quiz, robustness


def fake_probabilities(images):
    return np.tile(np.eye(10)[3], (len(images), 1))


def test_strip_titles_carry_each_answer():
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1
    answers = robustness.strip_answers(fake_probabilities, robustness.invariance_strip(image))
    figure = plots.strip_figure(answers)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert len(titles) == len(answers) and titles[0] == "as drawn: 3 (100%)"


def test_occlusion_figure_lays_the_map_over_the_digit():
    image = np.zeros((28, 28), np.float32)
    result = occlusion.occlusion_map(fake_probabilities, image)
    figure = plots.occlusion_figure(image, result)
    assert len(figure.data) == 2 and np.asarray(figure.data[1].z).shape == (28, 28)


def test_curves_are_in_numeric_order_one_line_per_model():
    side = {"rotation_accuracy": {"-30": 0.7, "0": 0.99, "30": 0.8, "-10": 0.95}}
    figure = plots.curve_figure({"cnn": side, "mlp": side}, "rotation_accuracy")
    assert len(figure.data) == 2 and list(figure.data[0].x) == [-30, -10, 0, 30]


def test_ranking_shows_the_largest_drops_first():
    ranking = {"filters": [{"block": 1, "filter": 4, "drop": 0.02}, {"block": 2, "filter": 0, "drop": 0.01}]}
    figure = plots.ranking_figure(ranking)
    assert list(figure.data[0].y) == ["conv1 #4", "conv2 #0"] and list(figure.data[0].x) == [2.0, 1.0]


def test_pairing_figure_titles_each_pair_with_its_similarity():
    kernels = np.random.default_rng(0).normal(size=(3, 3, 1, 4))
    figure = plots.pairing_figure(kernels, kernels, pairing.pair_kernels(kernels, kernels), columns=8)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert len(titles) == 8 and all(title.endswith("1.00") for title in titles[1::2])


def test_quiz_options_are_titled_a_b_c():
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1
    figure = plots.options_figure(quiz.make_question(image, np.random.default_rng(0)))
    assert [annotation.text for annotation in figure.layout.annotations] == ["A", "B", "C"]
