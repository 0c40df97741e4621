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


def test_normalization_sets_cover_the_axes_each_method_averages_over():
    from owll_helpers.plotting import normalization_set

    n, c, s = 4, 6, 5
    batch = normalization_set("batch", n, c, s, channel=2)
    assert batch.shape == (n, c, s)
    assert batch[:, 2, :].all() and batch.sum() == n * s
    layer = normalization_set("layer", n, c, s, sample=1)
    assert layer[1].all() and layer.sum() == c * s
    instance = normalization_set("instance", n, c, s, sample=1, channel=2)
    assert instance[1, 2].all() and instance.sum() == s
    group = normalization_set("group", n, c, s, num_groups=3, sample=1, channel=3)
    assert group[1, 2:4].all() and group.sum() == 2 * s
    # Group norm with one group is layer norm, with one channel per group instance norm.
    for channel in range(c):
        assert (normalization_set("group", n, c, s, num_groups=1, sample=1, channel=channel) == layer).all()
        assert (
            normalization_set("group", n, c, s, num_groups=c, sample=1, channel=channel)
            == normalization_set("instance", n, c, s, sample=1, channel=channel)
        ).all()


def test_normalization_set_refuses_bad_input():
    from owll_helpers.plotting import normalization_set

    with pytest.raises(ValueError, match="kind"):
        normalization_set("weight")
    with pytest.raises(ValueError, match="divide"):
        normalization_set("group", n_channels=6, num_groups=4)
    with pytest.raises(ValueError, match="sample 4 out of range"):
        normalization_set("layer", n_samples=4, sample=4)
    with pytest.raises(ValueError, match="channel 6 out of range"):
        normalization_set("batch", n_channels=6, channel=6)
    with pytest.raises(TypeError, match="num_groups"):
        normalization_set("group", num_groups=2.0)


def test_normalization_axes_one_readable_panel_per_kind():
    from owll_helpers.plotting import NORMALIZATION_KINDS, draw_normalization_block, plot_normalization_axes

    use_style()
    fig = plot_normalization_axes()
    assert [ax.get_title() for ax in fig.axes] == ["Batch norm", "Layer norm", "Instance norm", "Group norm, G = 2"]
    assert fig.get_figwidth() <= 7.5
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax.get_window_extent(renderer) for ax in fig.axes]
    assert not any(a.overlaps(b) for i, a in enumerate(panels) for b in panels[i + 1 :]), "panels overlap"
    assert len(plot_normalization_axes(["group"], num_groups=3).axes) == 1
    _, ax = plt.subplots()
    draw_normalization_block(ax, "group", num_groups=6, title="six groups")
    assert ax.get_title() == "six groups"
    with pytest.raises(ValueError, match="kinds"):
        plot_normalization_axes("batch")
    with pytest.raises(ValueError, match="kind must be one of"):
        plot_normalization_axes(["batch", "weight"])
    assert NORMALIZATION_KINDS == ("batch", "layer", "instance", "group")


def test_reliability_diagram_draws_bars_for_filled_bins_and_refuses_bad_shapes():
    import numpy as np

    from owll_helpers.plotting import plot_reliability_diagram

    confidence = np.array([np.nan, 0.4, 0.9])
    accuracy = np.array([np.nan, 0.5, 0.7])
    count = np.array([0, 10, 30])
    ax = plot_reliability_diagram(confidence, accuracy, count, title="test")
    assert len(ax.patches) == 4 and ax.get_title() == "test"  # two accuracy bars, two count bars
    assert sorted(t.get_text() for t in ax.texts) == ["10", "30"]
    with pytest.raises(ValueError, match="one value per bin"):
        plot_reliability_diagram(confidence, accuracy, count[:2])
