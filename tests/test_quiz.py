"""The kernel quiz: the right option is the true convolution, the others clearly differ."""
import numpy as np
import pytest

from cnn_core.experiments import quiz
from cnn_core.common.kernels import HAND_MADE_KERNELS, convolve2d


def digit():
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0
    image[6:10, 8:20] = 1.0
    return image


@pytest.mark.parametrize("seed", range(10))
def test_the_answer_is_the_kernel_output_and_the_others_differ(seed):
    question = quiz.make_question(digit(), np.random.default_rng(seed))
    assert len(question.options) == 3 and question.kernel_name in HAND_MADE_KERNELS
    assert np.allclose(question.options[question.answer], convolve2d(digit(), question.kernel))
    for index, option in enumerate(question.options):
        assert np.allclose(option, convolve2d(digit(), HAND_MADE_KERNELS[question.option_kernels[index]]))
        if index != question.answer:
            assert quiz.correlation(option, question.options[question.answer]) < quiz.MAX_SIMILARITY
    assert question.explanation.startswith(f"The {question.kernel_name} kernel")


def test_same_seed_same_question_and_learned_kernels_join_the_bank():
    first = quiz.make_question(digit(), np.random.default_rng(3))
    second = quiz.make_question(digit(), np.random.default_rng(3))
    assert first.kernel_name == second.kernel_name and first.answer == second.answer
    learned = quiz.learned_bank(np.random.default_rng(0).normal(size=(3, 3, 1, 4)))
    assert list(learned) == [f"learned filter #{i}" for i in range(4)]
    question = quiz.make_question(digit(), np.random.default_rng(0), {**HAND_MADE_KERNELS, **learned})
    assert question.explanation


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="28x28"):
        quiz.make_question(np.zeros((5, 5)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="alternatives"):
        quiz.make_question(digit(), np.random.default_rng(0), {"identity": HAND_MADE_KERNELS["identity"]})
