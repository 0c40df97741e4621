import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from owll_helpers.plotting import PALETTE, plot_history, plot_image_grid, plot_layer_histograms, use_style  # noqa: E402
from owll_helpers.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_style_uses_the_palette():
    use_style()
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][:3] == list(PALETTE[:3])


def test_plot_history_marks_divergence():
    ok = History(val_accuracy=[0.5, 0.8, 0.9], train_loss=[1, 0.5, 0.3])
    bad = History(val_accuracy=[0.1], train_loss=[2.0], diverged=True, diverged_epoch=1)
    ax = plot_history({"kaiming": ok, "std 1": bad})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["kaiming", "std 1 (diverged in epoch 2)"]


def test_plot_history_refuses_bad_input():
    with pytest.raises(ValueError, match="metric"):
        plot_history({"a": History()}, metric="accuracy")
    with pytest.raises(ValueError, match="empty"):
        plot_history({})
    with pytest.raises(TypeError, match="History"):
        plot_history({"a": [0.1, 0.2]})


def test_layer_histograms_one_panel_per_layer():
    acts = [torch.randn(100, 8) * (0.5**i) for i in range(10)]
    fig = plot_layer_histograms(acts, layers=[0, 4, 9])
    assert len(fig.axes) == 3
    assert len(plot_layer_histograms(acts).axes) == 6
    with pytest.raises(ValueError, match="out of range"):
        plot_layer_histograms(acts, layers=[10])
    with pytest.raises(ValueError, match="empty"):
        plot_layer_histograms([])


def test_image_grid_accepts_flat_and_image_tensors():
    assert len(plot_image_grid(torch.rand(12, 64), n_cols=5).axes) == 15
    assert len(plot_image_grid(torch.rand(3, 1, 8, 8), labels=[1, 2, 3]).axes) == 10
    with pytest.raises(ValueError, match="expected 8\\*8"):
        plot_image_grid(torch.rand(3, 10))
    with pytest.raises(ValueError, match="labels"):
        plot_image_grid(torch.rand(3, 64), labels=[1])
    with pytest.raises(TypeError, match="floating-point"):
        plot_image_grid(torch.zeros(3, 64, dtype=torch.uint8))
