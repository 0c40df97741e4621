"""The course's figure style and the plots that several chapters share.

Colours are the Okabe & Ito (2008) palette, which stays distinguishable for
the common forms of colour blindness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._checks import check_positive_int, check_tensor
from .train import History

#: Okabe-Ito colour-blind-safe palette (black last, for reference lines).
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

#: Font size (points) of tick labels in figures with many small panels.
TICK_LABEL_SIZE: float = 9

#: Panels per row of :func:`plot_layer_histograms`.
HISTOGRAM_COLUMNS: int = 3

#: History metrics :func:`plot_history` can draw.
HISTORY_METRICS: tuple[str, ...] = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def use_style() -> None:
    """Apply the course's figure style (palette, sizes, PNG output) to matplotlib."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "legend.frameon": False,
            "image.cmap": "gray_r",
        }
    )


def _new_axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots()[1]


def plot_history(
    histories: Mapping[str, History], metric: str = "val_accuracy", *, ax: Axes | None = None
) -> Axes:
    """Draw one curve of ``metric`` per run; a diverged run ends with an x.

    Args:
        histories: a label for each :class:`~owll_helpers.train.History`.
        metric: one of :data:`HISTORY_METRICS`.
        ax: axes to draw on (a new figure when ``None``).
    """
    if metric not in HISTORY_METRICS:
        raise ValueError(f"metric must be one of {HISTORY_METRICS}, got {metric!r}")
    if not histories:
        raise ValueError("histories is empty; expected at least one labelled History")
    ax = _new_axes(ax)
    for (label, history), colour in zip(histories.items(), PALETTE * 4):
        if not isinstance(history, History):
            raise TypeError(f"histories[{label!r}] must be a History, got {type(history).__name__}")
        values = getattr(history, metric)
        epochs = np.arange(1, len(values) + 1)
        suffix = f" (diverged in epoch {history.diverged_epoch + 1})" if history.diverged else ""
        ax.plot(epochs, values, color=colour, label=f"{label}{suffix}")
        if history.diverged:
            ax.plot(epochs[-1:] if len(values) else [1], values[-1:] if len(values) else [0.0], "x", color=colour)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("val_", "validation ").replace("_", " "))
    ax.legend()
    return ax


def plot_layer_histograms(
    activations: Sequence[torch.Tensor],
    layers: Sequence[int] | None = None,
    *,
    bins: int = 50,
    title: str | None = None,
) -> Figure:
    """One histogram per selected layer of the activations of a deep stack.

    The panels are laid out three to a row, with at most five round ticks on
    each x axis, so that the figure fits the page without shrinking its labels.

    Args:
        activations: per-layer activation tensors (any shape; all values are used).
        layers: indices of the layers to show (default: up to six, evenly spaced).
        bins: histogram bins.
        title: the figure's title.
    """
    if not activations:
        raise ValueError("activations is empty; expected one tensor per layer")
    check_positive_int(bins, "bins")
    for i, a in enumerate(activations):
        check_tensor(a, f"activations[{i}]", dtype_kind="float")
    if layers is None:
        layers = sorted(set(np.linspace(0, len(activations) - 1, min(6, len(activations))).round().astype(int)))
    bad = [i for i in layers if not 0 <= i < len(activations)]
    if bad:
        raise ValueError(f"layers {bad} out of range: there are {len(activations)} layers")
    # At most three panels a row: the figure is about as wide as the page, so
    # the tick labels appear at their size in points instead of shrunk.
    n_cols = min(HISTOGRAM_COLUMNS, len(layers))
    n_rows = -(-len(layers) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 2.2 * n_rows), squeeze=False)
    for ax in axes.flat[len(layers) :]:
        fig.delaxes(ax)
    for k, (ax, index) in enumerate(zip(axes.flat, layers)):
        values = activations[index].detach().flatten().double().numpy()
        ax.hist(values[np.isfinite(values)], bins=bins, color=PALETTE[0])
        ax.set_title(f"layer {index + 1}, std {values.std():.3g}", fontsize=10)
        ax.set_yticks([])
        ax.xaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 5, 10]))
        ax.tick_params(axis="x", labelsize=TICK_LABEL_SIZE)
        ax.xaxis.get_offset_text().set_fontsize(TICK_LABEL_SIZE)
        if k % n_cols == 0:
            ax.set_ylabel("count")
        if k + n_cols >= len(layers):  # the lowest panel of its column
            ax.set_xlabel("output value")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_image_grid(
    images: torch.Tensor,
    labels: Sequence[object] | torch.Tensor | None = None,
    *,
    n_cols: int = 10,
    image_shape: tuple[int, int] = (8, 8),
) -> Figure:
    """Show images (``(N, H, W)``, ``(N, 1, H, W)`` or flat ``(N, H*W)``) in a grid."""
    check_tensor(images, "images", ndim=(2, 3, 4), dtype_kind="float")
    check_positive_int(n_cols, "n_cols")
    if images.ndim == 2:
        if images.shape[1] != image_shape[0] * image_shape[1]:
            raise ValueError(
                f"flat images have {images.shape[1]} values, expected {image_shape[0]}*{image_shape[1]}"
            )
        images = images.reshape(-1, *image_shape)
    elif images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {tuple(images.shape)}")
        images = images[:, 0]
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    n_rows = -(-len(images) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(0.9 * n_cols, 1.0 * n_rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].detach().numpy(), cmap="gray_r")
            if labels is not None:
                label = labels[i]
                ax.set_title(str(label.item() if isinstance(label, torch.Tensor) else label), fontsize=8)
    fig.tight_layout()
    return fig


def plot_std_by_depth(
    stds: Mapping[str, Sequence[float]],
    *,
    ax: Axes | None = None,
    log: bool = True,
    title: str | None = None,
    ylabel: str = "std of the layer's output",
) -> Axes:
    """Draw one line per run: the standard deviation of each layer's output against depth.

    Layers are numbered from 1, as in the chapter's text.  On the default
    logarithmic axis an explosion or a vanishing signal is a straight line
    whose slope is the per-layer factor.

    Args:
        stds: a label for each list of per-layer standard deviations (for
            example from :func:`owll_helpers.propagation.layer_stds`).
        ax: axes to draw on (a new figure when ``None``).
        log: use a logarithmic y axis.
        title: the axes' title.
        ylabel: the y axis' label (the same plot serves any per-layer quantity,
            such as gradient norms).
    """
    if not isinstance(stds, Mapping):
        raise TypeError(f"stds must map a label to a list of per-layer stds, got {type(stds).__name__}")

    if not stds:
        raise ValueError("stds is empty; expected at least one labelled list of per-layer stds")
    ax = _new_axes(ax)
    for (label, values), colour in zip(stds.items(), PALETTE * 4):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"stds[{label!r}] must be a sequence of numbers, got {type(values).__name__}")
        if len(values) == 0:
            raise ValueError(f"stds[{label!r}] is empty; expected one std per layer")
        y = np.asarray(values, dtype=float)
        if log and np.any(y[np.isfinite(y)] <= 0):
            raise ValueError(f"stds[{label!r}] has values <= 0, which a log axis cannot show; pass log=False")
        ax.plot(np.arange(1, len(y) + 1), y, "o-", markersize=3, color=colour, label=str(label))
    if log:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


#: The normalizations :func:`plot_normalization_axes` can draw, in the order of Wu & He's figure.
NORMALIZATION_KINDS: tuple[str, ...] = ("batch", "layer", "instance", "group")

_NORMALIZATION_TITLES = {
    "batch": "Batch norm",
    "layer": "Layer norm",
    "instance": "Instance norm",
    "group": "Group norm",
}


def normalization_set(
    kind: str,
    n_samples: int = 4,
    n_channels: int = 6,
    n_spatial: int = 5,
    *,
    num_groups: int = 2,
    sample: int = 0,
    channel: int = 0,
) -> np.ndarray:
    """Which elements of an ``N x C x (H*W)`` block share one mean and variance with one element.

    The element is any spatial position of sample ``sample``, channel
    ``channel``; the sets are those of Wu & He (2018, Sec. 3.1 and Fig. 2).
    Batch norm (Ioffe & Szegedy 2015) averages over the samples and positions
    of one channel; layer norm (Ba et al. 2016) over the channels and
    positions of one sample; instance norm (Ulyanov et al. 2016) over the
    positions of one sample and channel; group norm (Wu & He 2018) over the
    positions of one sample and the ``n_channels // num_groups`` consecutive
    channels of the channel's group.

    Returns:
        A boolean array of shape ``(n_samples, n_channels, n_spatial)``.
    """
    if kind not in NORMALIZATION_KINDS:
        raise ValueError(f"kind must be one of {NORMALIZATION_KINDS}, got {kind!r}")
    for value, name in ((n_samples, "n_samples"), (n_channels, "n_channels"), (n_spatial, "n_spatial")):
        check_positive_int(value, name)
    check_positive_int(num_groups, "num_groups")
    check_positive_int(sample, "sample", minimum=0)
    check_positive_int(channel, "channel", minimum=0)
    if n_channels % num_groups:
        raise ValueError(f"num_groups ({num_groups}) must divide n_channels ({n_channels})")
    if sample >= n_samples:
        raise ValueError(f"sample {sample} out of range: there are {n_samples} samples")
    if channel >= n_channels:
        raise ValueError(f"channel {channel} out of range: there are {n_channels} channels")
    shared = np.zeros((n_samples, n_channels, n_spatial), dtype=bool)
    per_group = n_channels // num_groups
    group = slice(channel // per_group * per_group, (channel // per_group + 1) * per_group)
    if kind == "batch":
        shared[:, channel, :] = True
    elif kind == "layer":
        shared[sample, :, :] = True
    elif kind == "instance":
        shared[sample, channel, :] = True
    else:
        shared[sample, group, :] = True
    return shared


def _lighter(colour: str, amount: float) -> tuple[float, float, float]:
    red, green, blue = mpl.colors.to_rgb(colour)
    return (red + (1 - red) * amount, green + (1 - green) * amount, blue + (1 - blue) * amount)


def draw_normalization_block(
    ax: Axes,
    kind: str,
    *,
    n_samples: int = 4,
    n_channels: int = 6,
    n_spatial: int = 5,
    num_groups: int = 2,
    sample: int = 0,
    channel: int = 0,
    title: str | None = None,
) -> Axes:
    """Draw the ``N x C x (H*W)`` block as a cube, shading what one mean and variance cover.

    The picture of Wu & He (2018, Fig. 2): samples run to the right, the
    spatial positions (``H*W``, flattened) upwards and the channels into the
    page, channel 1 in front. The shaded cells are :func:`normalization_set`;
    for group norm, thick lines on the top and side faces separate the groups.

    Args:
        ax: the axes to draw on (their axis lines are switched off).
        kind: one of :data:`NORMALIZATION_KINDS`.
        title: the panel's title (default: the normalization's name, and for
            group norm the number of groups).
        n_samples, n_channels, n_spatial, num_groups, sample, channel: as in
            :func:`normalization_set`.
    """
    shared = normalization_set(
        kind, n_samples, n_channels, n_spatial, num_groups=num_groups, sample=sample, channel=channel
    )
    depth_x, depth_y = 0.5, 0.4  # one channel deeper moves this far right and up
    fill, edge = PALETTE[0], "#555555"

    def corner(n: float, s: float, c: float) -> tuple[float, float]:
        return n + c * depth_x, s + c * depth_y

    polygons: list[list[tuple[float, float]]] = []
    colours: list[object] = []

    def face(points: list[tuple[float, float, float]], colour: object) -> None:
        polygons.append([corner(*p) for p in points])
        colours.append(colour)

    # Painter's order: the back channel first, then bottom to top and left to right,
    # drawing for each cell the three faces that can be seen: front, top and right.
    for c in range(n_channels - 1, -1, -1):
        for s in range(n_spatial):
            for n in range(n_samples):
                on = shared[n, c, s]
                face([(n, s, c), (n + 1, s, c), (n + 1, s + 1, c), (n, s + 1, c)],
                     fill if on else "#FFFFFF")
                face([(n, s + 1, c), (n + 1, s + 1, c), (n + 1, s + 1, c + 1), (n, s + 1, c + 1)],
                     _lighter(fill, 0.3) if on else "#F0F0F0")
                face([(n + 1, s, c), (n + 1, s, c + 1), (n + 1, s + 1, c + 1), (n + 1, s + 1, c)],
                     _lighter(fill, 0.5) if on else "#DDDDDD")
    # One collection draws the faces in the order they were added, and fast.
    ax.add_collection(PolyCollection(polygons, facecolors=colours, edgecolors=edge, linewidths=0.5))
    if kind == "group":
        per_group = n_channels // num_groups
        for boundary in range(per_group, n_channels, per_group):
            ax.plot(*zip(corner(0, n_spatial, boundary), corner(n_samples, n_spatial, boundary),
                         corner(n_samples, 0, boundary)), color="black", linewidth=1.5)
    ax.text(n_samples / 2, -0.3, "N", ha="center", va="top")
    ax.text(-0.3, n_spatial / 2, "H, W", ha="right", va="center", rotation=90)
    label_x, label_y = corner(n_samples, 0, n_channels / 2)
    ax.text(label_x + 0.3, label_y - 0.3, "C", ha="left", va="top")
    ax.set_xlim(-1.2, n_samples + n_channels * depth_x + 1.0)
    ax.set_ylim(-1.3, n_spatial + n_channels * depth_y + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is None:
        title = _NORMALIZATION_TITLES[kind] + (f", G = {num_groups}" if kind == "group" else "")
    ax.set_title(title)
    return ax


def plot_normalization_axes(
    kinds: Sequence[str] = NORMALIZATION_KINDS,
    *,
    num_groups: int = 2,
    n_samples: int = 4,
    n_channels: int = 6,
    n_spatial: int = 5,
) -> Figure:
    """One panel per normalization: the block ``N x C x (H*W)``, shaded where one mean and variance apply.

    The panels are drawn by :func:`draw_normalization_block` for sample 1 and
    channel 1, side by side in a figure no wider than the page.

    Args:
        kinds: names from :data:`NORMALIZATION_KINDS`, one panel each.
        num_groups: the number of groups of a group-norm panel.
        n_samples, n_channels, n_spatial: the size of the drawn block.
    """
    if isinstance(kinds, str) or not kinds:
        raise ValueError(f"kinds must be a non-empty sequence of names from {NORMALIZATION_KINDS}")
    fig, axes = plt.subplots(1, len(kinds), figsize=(min(7.5, 1.9 * len(kinds)), 2.2), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        draw_normalization_block(ax, kind, n_samples=n_samples, n_channels=n_channels,
                                 n_spatial=n_spatial, num_groups=num_groups)
    fig.tight_layout()
    return fig


def plot_reliability_diagram(
    confidence: np.ndarray,
    accuracy: np.ndarray,
    count: np.ndarray,
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """A reliability diagram: accuracy against confidence per bin, the gap to the diagonal, the counts.

    Takes the three arrays of :func:`owll_helpers.calibration.reliability_bins`
    (equal-width bins over [0, 1]). Each bin's bar reaches its accuracy; a red
    segment joins it to the bin's mean confidence (the gap that ECE averages,
    weighted by the bin's count); the number of inputs in each bin is drawn as
    a narrow dark bar along the bottom, with the count written above it
    (DeGroot & Fienberg 1983; Guo et al. 2017, Figure 1).
    """
    confidence, accuracy, count = (np.asarray(a) for a in (confidence, accuracy, count))
    if not confidence.shape == accuracy.shape == count.shape or confidence.ndim != 1:
        raise ValueError(
            f"confidence, accuracy and count must be 1-D arrays of one length (one value per bin), "
            f"got shapes {confidence.shape}, {accuracy.shape}, {count.shape}"
        )
    ax = _new_axes(ax)
    n_bins = len(count)
    width = 1.0 / n_bins
    centres = (np.arange(n_bins) + 0.5) * width
    filled = count > 0
    ax.bar(centres[filled], accuracy[filled], width=width, edgecolor="white", color=PALETTE[5], label="accuracy")
    ax.vlines(centres[filled], accuracy[filled], confidence[filled], color=PALETTE[3], linewidth=2.5, label="gap to the confidence")
    ax.plot([0, 1], [0, 1], "--", color="0.3", linewidth=1, label="perfect calibration")
    # The share of inputs per bin, as narrow dark bars along the bottom (the tallest 0.15 high), with the count above.
    heights = 0.15 * count / max(int(count.max()), 1)
    ax.bar(centres[filled], heights[filled], width=0.4 * width, color="0.15", label="inputs in the bin (count)")
    for x, height, n in zip(centres[filled], heights[filled], count[filled]):
        ax.text(x, height + 0.01, str(int(n)), ha="center", va="bottom", fontsize=7, color="0.15")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-label probability)")
    ax.set_ylabel("accuracy in the bin")
    ax.legend(loc="upper left", fontsize=7, frameon=True, framealpha=0.9)
    if title:
        ax.set_title(title)
    return ax
