"""Loaders read torchvision's real on-disk formats; the tests write small files in those formats."""
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets

from qrobust.datasets import DATASETS, RAW_FILES, MissingDataError, load_prepared, prepare


def test_mnist5k_split_is_deterministic_stratified_and_disjoint():
    tr1, te1 = DATASETS.get("mnist5k")(None, seed=0, n_train=4000, n_test=1000)
    tr2, te2 = DATASETS.get("mnist5k")(None, seed=0, n_train=4000, n_test=1000)
    assert torch.equal(tr1.x, tr2.x) and torch.equal(te1.y, te2.y)
    assert tr1.x.shape == (4000, 1, 28, 28) and te1.x.shape == (1000, 1, 28, 28)
    assert tr1.x.dtype == torch.uint8
    # stratified: each class has the same share in train and test (mnist5k has 500 per class)
    assert torch.bincount(tr1.y).tolist() == [400] * 10
    assert torch.bincount(te1.y).tolist() == [100] * 10
    # disjoint: no test image appears in train
    train_rows = {bytes(r) for r in tr1.x.reshape(4000, -1).numpy()}
    assert sum(bytes(r) in train_rows for r in te1.x.reshape(1000, -1).numpy()) == 0


def test_mnist5k_seed_changes_the_split():
    a, _ = DATASETS.get("mnist5k")(None, seed=0, n_train=500, n_test=100)
    b, _ = DATASETS.get("mnist5k")(None, seed=1, n_train=500, n_test=100)
    assert not torch.equal(a.x, b.x)


def _pattern(n, c, h, w, offset=0):
    # a distinct value per (image, channel, row, col) so any layout mix-up shows
    idx = np.arange(n * c * h * w).reshape(n, c, h, w) + offset
    return (idx * 7 % 251).astype(np.uint8)


def test_cifar10_real_format(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    imgs = {}
    for i, name in enumerate(["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]):
        x = _pattern(3, 3, 32, 32, offset=i * 1000)
        imgs[name] = x
        with open(base / name, "wb") as f:
            pickle.dump({"data": x.reshape(3, -1), "labels": [i, (i + 1) % 10, 9]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, f)
    train, test = DATASETS.get("cifar10")(tmp_path, checksums=False)
    assert train.x.shape == (15, 3, 32, 32) and test.x.shape == (3, 3, 32, 32)
    assert np.array_equal(train.x[:3].numpy(), imgs["data_batch_1"])
    assert np.array_equal(test.x.numpy(), imgs["test_batch"])
    assert test.y.tolist() == [5, 6, 9]


def test_svhn_real_format(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        x = _pattern(n, 3, 32, 32)
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat",
                         {"X": np.transpose(x, (2, 3, 1, 0)),  # SVHN stores H x W x C x N
                          "y": np.array([[10], [1], [2], [3]][:n], dtype=np.uint8)})
    train, test = DATASETS.get("svhn")(tmp_path, checksums=False)
    assert train.x.shape == (4, 3, 32, 32)
    assert np.array_equal(train.x.numpy(), _pattern(4, 3, 32, 32))
    assert train.y.tolist() == [0, 1, 2, 3]  # label 10 is the digit 0


def _write_idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = 0x0800 | arr.ndim
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes())


def test_mnist_real_format(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    xtr, xte = _pattern(5, 1, 28, 28)[:, 0], _pattern(2, 1, 28, 28, 99)[:, 0]
    _write_idx(raw / "train-images-idx3-ubyte", xtr)
    _write_idx(raw / "train-labels-idx1-ubyte", [0, 1, 2, 3, 4])
    _write_idx(raw / "t10k-images-idx3-ubyte", xte)
    _write_idx(raw / "t10k-labels-idx1-ubyte", [7, 8])
    train, test = DATASETS.get("mnist")(tmp_path, checksums=False)
    assert np.array_equal(train.x[:, 0].numpy(), xtr) and test.y.tolist() == [7, 8]


def test_imagefolder_real_format(tmp_path):
    from PIL import Image
    for part in ("train", "test"):
        for k, cls in enumerate(["cat", "dog"]):
            (tmp_path / part / cls).mkdir(parents=True)
            for j in range(2):
                Image.fromarray(np.full((20, 24, 3), 40 * k + j, np.uint8)).save(tmp_path / part / cls / f"{j}.png")
    train, test = DATASETS.get("imagefolder")(tmp_path, image_size=16)
    assert train.x.shape == (4, 3, 16, 16) and train.y.tolist() == [0, 0, 1, 1]
    assert int(train.x[2].float().mean()) == 40


@pytest.mark.parametrize("name,needle", [("cifar10", "cifar-10-batches-py/data_batch_1"), ("svhn", "train_32x32.mat"),
                                         ("mnist", "MNIST/raw/train-images-idx3-ubyte"), ("imagefolder", "train")])
def test_missing_files_name_the_file_and_the_fix(tmp_path, name, needle):
    with pytest.raises(MissingDataError) as e:
        DATASETS.get(name)(tmp_path)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg
    assert ("download=True" in msg) or ("put images under" in msg)


def test_missing_data_through_cli_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "prepared"
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "prepare-data", "--cfg",
                        f'{{"dataset": "cifar10", "raw_root": "{tmp_path}/raw"}}', "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "cifar-10-batches-py" in r.stderr
    assert not out.exists()


def test_prepare_records_hashes_and_detects_corruption(tmp_path):
    meta = prepare("mnist5k", None, tmp_path, seed=0, n_train=100, n_test=50)
    assert meta["n_train"] == 100 and len(meta["sha256"]["train.pt"]) == 64
    split, _ = load_prepared(tmp_path, "train")
    assert split.x.shape == (100, 1, 28, 28)
    blob = torch.load(tmp_path / "train.pt", weights_only=True)
    assert set(blob) == {"x", "y"}
    with open(tmp_path / "train.pt", "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="sha256"):
        load_prepared(tmp_path, "train")


def test_every_dataset_declares_its_raw_files():
    assert RAW_FILES.names() == DATASETS.names()
    (path,) = RAW_FILES.get("mnist5k")(None)
    assert path.name == "mnist_5k.csv.gz" and path.is_file()


# -- safe loading: checksums first, no code runs, one line per bad file ------------------------------

def _cifar_subset(root, extra=None):
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]):
        with open(base / name, "wb") as f:
            pickle.dump({"data": _pattern(2, 3, 32, 32, offset=i).reshape(2, -1), "labels": [i, 9]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, f)
    return base


class _Evil:
    def __reduce__(self):
        return (__import__("os").system, ("touch PWNED",))


def test_the_published_md5s_are_torchvisions():
    from qrobust.datasets.torchvision_sets import MD5

    cifar = torchvision.datasets.CIFAR10
    assert MD5["cifar10"] == {**dict(cifar.train_list + cifar.test_list), cifar.meta["filename"]: cifar.meta["md5"]}
    assert MD5["svhn"] == {v[1]: v[2] for k, v in torchvision.datasets.SVHN.split_list.items() if k != "extra"}
    assert MD5["mnist"] == dict(torchvision.datasets.MNIST.resources)


def test_checksums_are_checked_before_parsing_and_name_the_file(tmp_path):
    from qrobust.datasets.torchvision_sets import RawDataError

    _cifar_subset(tmp_path)
    with pytest.raises(RawDataError) as e:
        DATASETS.get("cifar10")(tmp_path)  # checksums on by default: a subset is not the published file
    msg = str(e.value)
    assert "\n" not in msg and "cifar-10-batches-py/data_batch_1: md5 " in msg
    assert "c99cafc152244af753f735de768cd75f" in msg and "data.checksums: false" in msg


@pytest.mark.parametrize("checksums", [True, False])
def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path, monkeypatch, checksums):
    from qrobust.datasets.torchvision_sets import RawDataError

    monkeypatch.chdir(tmp_path)
    base = _cifar_subset(tmp_path / "raw")
    with open(base / "data_batch_1", "wb") as f:
        pickle.dump({"data": _Evil(), "labels": [0]}, f)
    with pytest.raises(RawDataError) as e:
        DATASETS.get("cifar10")(tmp_path / "raw", checksums=checksums)
    msg = str(e.value)
    assert "\n" not in msg and "data_batch_1" in msg
    assert ("md5" in msg) if checksums else ("refused posix.system" in msg or "refused os.system" in msg)
    assert not (tmp_path / "PWNED").exists()


def test_a_malicious_pickle_through_the_cli_is_one_line_and_writes_nothing(tmp_path):
    base = _cifar_subset(tmp_path / "raw")
    with open(base / "test_batch", "wb") as f:
        pickle.dump({"data": _Evil(), "labels": [0]}, f)
    out = tmp_path / "prepared"
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "prepare-data", "--cfg",
                        f'{{"dataset": "cifar10", "raw_root": "{tmp_path}/raw", "checksums": false}}', "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "test_batch: not a plain data pickle" in r.stderr and "nothing in it was run" in r.stderr
    assert not (tmp_path / "PWNED").exists() and not out.exists()


def test_wrong_shapes_name_the_file(tmp_path):
    from qrobust.datasets.torchvision_sets import RawDataError

    base = _cifar_subset(tmp_path)
    with open(base / "data_batch_3", "wb") as f:
        pickle.dump({"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(RawDataError, match=r"data_batch_3: 'data' must be a uint8 array N x 3072.*got ndarray \(2, 3000\)"):
        DATASETS.get("cifar10")(tmp_path, checksums=False)
    for split in ("train", "test"):
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [2]])})
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((30, 32, 3, 2), np.uint8), "y": np.array([[1], [2]])})
    with pytest.raises(RawDataError, match=r"test_32x32.mat: 'X' must be uint8 32 x 32 x 3 x N"):
        DATASETS.get("svhn")(tmp_path, checksums=False)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", _pattern(3, 1, 28, 28)[:, 0])
    _write_idx(raw / "train-labels-idx1-ubyte", [0, 1])  # one label short
    _write_idx(raw / "t10k-images-idx3-ubyte", _pattern(1, 1, 28, 28)[:, 0])
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")  # says 5, holds 1
    with pytest.raises(RawDataError, match=r"t10k-labels-idx1-ubyte: header says 5 values, the file holds 1"):
        DATASETS.get("mnist")(tmp_path, checksums=False)
    _write_idx(raw / "t10k-labels-idx1-ubyte", [3])
    with pytest.raises(RawDataError, match=r"train-labels-idx1-ubyte: 2 labels for 3 images"):
        DATASETS.get("mnist")(tmp_path, checksums=False)


def test_mnist_with_checksums_reads_only_files_that_match_their_verified_archive(tmp_path, monkeypatch):
    import gzip

    from qrobust.datasets import torchvision_sets as tvs

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {"train-images-idx3-ubyte": _pattern(2, 1, 28, 28)[:, 0], "train-labels-idx1-ubyte": [1, 2],
              "t10k-images-idx3-ubyte": _pattern(1, 1, 28, 28)[:, 0], "t10k-labels-idx1-ubyte": [3]}
    for name, arr in arrays.items():
        _write_idx(raw / name, arr)
    with pytest.raises(tvs.RawDataError, match="train-images-idx3-ubyte.gz: missing; torchvision publishes the md5"):
        DATASETS.get("mnist")(tmp_path)
    md5 = {}
    for name in arrays:
        (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes(), mtime=0))
        md5[f"{name}.gz"] = tvs._md5(raw / f"{name}.gz")
    monkeypatch.setitem(tvs.MD5, "mnist", md5)  # these archives stand in for the published ones
    train, test = DATASETS.get("mnist")(tmp_path)
    assert train.y.tolist() == [1, 2] and test.y.tolist() == [3]
    _write_idx(raw / "t10k-labels-idx1-ubyte", [4])  # the extracted file no longer matches its archive
    with pytest.raises(tvs.RawDataError, match=r"t10k-labels-idx1-ubyte: differs from the content of its verified archive"):
        DATASETS.get("mnist")(tmp_path)


def test_a_non_image_in_an_imagefolder_is_one_line_naming_it(tmp_path):
    from PIL import Image
    for part in ("train", "test"):
        for cls in ("cat", "dog"):
            (tmp_path / part / cls).mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / part / cls / "0.png")
    (tmp_path / "train" / "dog" / "1.png").write_text("not an image")
    with pytest.raises(ValueError) as e:
        DATASETS.get("imagefolder")(tmp_path, image_size=8)
    msg = str(e.value)
    assert "\n" not in msg and "train/dog/1.png: not a readable image" in msg and "remove it or replace it" in msg


def test_n_train_and_n_test_cut_a_stratified_subset_of_a_torchvision_set_and_null_keeps_it_whole(tmp_path):
    """data.n_train / n_test were silently ignored for CIFAR-10, SVHN and MNIST; now they cut a stratified
    subset (a CPU-scale run on data on disk), and null keeps the whole split (config/paper.yaml)."""
    base = tmp_path / "raw" / "cifar-10-batches-py"
    base.mkdir(parents=True)
    for i, name in enumerate(["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]):
        with open(base / name, "wb") as f:  # 20 images a batch, two classes each half
            pickle.dump({"data": _pattern(20, 3, 32, 32, offset=i).reshape(20, -1), "labels": [0] * 10 + [1] * 10}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, f)
    meta = prepare("cifar10", tmp_path / "raw", tmp_path / "sub", seed=0, n_train=40, n_test=None, checksums=False)
    assert meta["n_train"] == 40 and meta["n_test"] == 20 and meta["train_class_counts"] == [20, 20]
    again = prepare("cifar10", tmp_path / "raw", tmp_path / "again", seed=0, n_train=40, n_test=None, checksums=False)
    assert again["sha256"] == meta["sha256"]  # the same subset from the same seed
    whole = prepare("cifar10", tmp_path / "raw", tmp_path / "whole", seed=0, n_train=None, n_test=None, checksums=False)
    assert whole["n_train"] == 100 and whole["n_test"] == 20
    with pytest.raises(ValueError, match="mnist5k splits its 5,000 images itself"):
        prepare("mnist5k", None, tmp_path / "m", n_train=None, n_test=1000)
