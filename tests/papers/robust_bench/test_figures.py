"""Table 5's figures: the system-noise heatmap holds each model's change against its own clean accuracy."""
import pandas as pd

from qrobust.papers.robust_bench.figures import sysnoise_matrix, system_noise_heatmap


def _long(tmp_path):
    rows = []
    for model, wb, ab, clean in (("float", None, None, 90.0), ("ptq-x", 4, 4, 80.0)):
        for seed, shift in ((0, 0.0), (1, 2.0)):
            rows.append(dict(model=model, weight_bits=wb, act_bits=ab, seed=seed, family="clean", noise="clean",
                             variant=None, acc=clean + shift))
            rows.append(dict(model=model, weight_bits=wb, act_bits=ab, seed=seed, family="system", noise="resize",
                             variant="pil-bilinear", acc=clean + shift - 3.0))
            rows.append(dict(model=model, weight_bits=wb, act_bits=ab, seed=seed, family="model_side", noise="bf16",
                             variant=None, acc=clean + shift + (1.0 if model == "float" else -0.5)))
    path = tmp_path / "table5_long.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_sysnoise_matrix_is_each_models_change_against_its_own_clean_accuracy(tmp_path):
    m = sysnoise_matrix(_long(tmp_path))
    assert list(m.index) == ["resize:pil-bilinear", "bf16"] and list(m.columns) == ["float", "ptq-x W4A4"]
    assert m.loc["resize:pil-bilinear"].tolist() == [-3.0, -3.0]
    assert m.loc["bf16"].tolist() == [1.0, -0.5]


def test_the_heatmap_is_one_cell_per_noise_and_model(tmp_path):
    import matplotlib.image as mpimg

    system_noise_heatmap(_long(tmp_path), tmp_path / "s.png")
    h, w = mpimg.imread(tmp_path / "s.png").shape[:2]
    assert (tmp_path / "s.pdf").stat().st_size > 0 and h < 3 * w  # not the old bar chart's tall strip
