import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from owll_helpers.plotting import PALETTE, plot_history, plot_image_grid, plot_layer_histograms, use_style  # noqa: E402
from owll_helpers.propagation import propagate  # noqa: E402
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


@pytest.mark.parametrize("activation, std", [("tanh", 1.0), ("relu", None), ("relu", 1.0)])
def test_layer_histograms_are_readable_at_page_width(activation, std):
    # The site shows a figure at most about as wide as the page (roughly 7.5
    # inches at 100 dpi): wider figures are shrunk, and their labels with them.
    use_style()
    kwargs = {"weight_std": std} if std else {"init": "kaiming"}
    fig = plot_layer_histograms(propagate(torch.randn(200, 64), 20, 64, activation, **kwargs), title="a title")
    assert fig.get_figwidth() <= 7.5
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        labels = [t for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high]
        assert 2 <= len(labels) <= 5, [t.get_text() for t in labels]
        assert min(t.get_fontsize() for t in labels) >= 8
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:])), "tick labels overlap"
    panels = [ax.get_window_extent(renderer) for ax in fig.axes]
    assert not any(a.overlaps(b) for i, a in enumerate(panels) for b in panels[i + 1 :]), "panels overlap"


def test_image_grid_accepts_flat_and_image_tensors():
    assert len(plot_image_grid(torch.rand(12, 64), n_cols=5).axes) == 15
    assert len(plot_image_grid(torch.rand(3, 1, 8, 8), labels=[1, 2, 3]).axes) == 10
    with pytest.raises(ValueError, match="expected 8\\*8"):
        plot_image_grid(torch.rand(3, 10))
    with pytest.raises(ValueError, match="labels"):
        plot_image_grid(torch.rand(3, 64), labels=[1])
    with pytest.raises(TypeError, match="floating-point"):
        plot_image_grid(torch.zeros(3, 64, dtype=torch.uint8))
