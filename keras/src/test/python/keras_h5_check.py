"""Reads a .keras file's weights as Keras 3's saving_lib does, with h5py (the HDF5 C library), without Keras.

Python Keras is not installable here (not in Debian, no PyPI access); h5py is (Debian's python3-h5py).
This follows Keras 3's load path from the .keras zip down to the arrays a layer would assign:

- saving_lib.H5IOStore opens model.weights.h5 straight from the zip (h5py.File on a file object);
- saving_lib.H5Entry (read mode): the model's own variables from h5_file["vars"] (no guard: a file
  without the root "vars" group raises KeyError there); a layer's from h5_file[path]["vars"] when
  `path in h5_file and "vars" in h5_file[path]`, else an empty store;
- _load_container_state: a layer's path is "layers/" + naming.to_snake_case(class name), numbered per
  class in the order of model.layers (Sequential.layers leaves out its InputLayer, Functional.layers
  keeps its InputLayers);
- Layer.load_own_variables: the store must hold exactly as many entries as the layer has variables
  ("0", "1", ... in the order trainable then non-trainable), and each assign needs the variable's shape.

The variable counts and shapes are worked out from config.json (Dense: kernel [in, units] and bias;
BatchNormalization: gamma, beta, moving_mean, moving_variance of the normalized axis; other layers
none), not from the weights file.

usage: keras_h5_check.py FILE.keras [REFERENCE.keras]
With a reference, every array must also equal the reference's at the same path. Prints one line per
layer and "OK"; exits 1 with the reason otherwise.
"""
import json
import re
import sys
import zipfile

import h5py
import numpy as np


def to_snake_case(name):  # keras.src.utils.naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def entry(h5, path):  # saving_lib.H5Entry.__init__ in mode "r"
    if not path:
        return h5["vars"]
    if path in h5 and "vars" in h5[path]:
        return h5[path]["vars"]
    return {}


def expected_shapes(layer):
    cls, cfg = layer["class_name"], layer["config"]
    build = (layer.get("build_config") or {}).get("input_shape")
    if cls == "Dense":
        shapes = [(build[-1], cfg["units"])]
        return shapes + [(cfg["units"],)] if cfg.get("use_bias", True) else shapes
    if cls == "BatchNormalization":
        axis = cfg["axis"][0] if isinstance(cfg["axis"], list) else cfg["axis"]
        n = build[axis]
        return [(n,)] * ((1 if cfg.get("scale", True) else 0) + (1 if cfg.get("center", True) else 0) + 2)
    return []


def read(path):
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        meta = json.loads(zf.read("metadata.json"))
        assert "keras_version" in meta and "date_saved" in meta, meta
        layers = config["config"]["layers"]
        if config["class_name"] == "Sequential" and layers and layers[0]["class_name"] == "InputLayer":
            layers = layers[1:]
        used, out = {}, {}
        with zf.open("model.weights.h5") as raw, h5py.File(raw, "r") as h5:
            root = entry(h5, "")
            if len(root.keys()) != 0:
                raise SystemExit(f"{path}: the model's own vars hold {list(root.keys())}, a model has none")
            for layer in layers:
                key = to_snake_case(layer["class_name"])
                if key in used:
                    used[key] += 1
                    key = f"{key}_{used[key]}"
                else:
                    used[key] = 0
                store = entry(h5, "layers/" + key)
                shapes = expected_shapes(layer)
                if len(store.keys()) != len(shapes):
                    raise SystemExit(f"{path}: layers/{key} ({layer['class_name']} '{layer['config']['name']}') holds "
                                     f"{len(store.keys())} variables, the layer has {len(shapes)}")
                arrays = [np.array(store[str(i)]) for i in range(len(shapes))]
                for i, (a, s) in enumerate(zip(arrays, shapes)):
                    if a.shape != tuple(s) or a.dtype != np.float32:
                        raise SystemExit(f"{path}: layers/{key}/vars/{i} is {a.dtype}{a.shape}, expected float32{tuple(s)}")
                out[key] = arrays
                print(f"layers/{key}: {layer['class_name']} '{layer['config']['name']}' "
                      + (", ".join(str(a.shape) for a in arrays) or "no variables"))
    return out


def main():
    ours = read(sys.argv[1])
    if len(sys.argv) > 2:
        reference = read(sys.argv[2])
        if ours.keys() != reference.keys():
            raise SystemExit(f"layer keys differ: {sorted(ours)} vs {sorted(reference)}")
        for key in ours:
            for i, (a, b) in enumerate(zip(ours[key], reference[key])):
                if not np.array_equal(a, b):
                    raise SystemExit(f"layers/{key}/vars/{i} differs from the reference")
        print("equal to the reference")
    print("OK")


if __name__ == "__main__":
    main()
