package dev.vecnorm.model;

import dev.vecnorm.layers.Input;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Merge;
import dev.vecnorm.layers.SymbolicTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Keras model configs (the JSON part of Keras's files), both ways, with no dependency: what
 * {@code config.json} of a {@code .keras} file and the {@code model_config} attribute of a legacy
 * {@code .h5} file hold. Reads Sequential models (the Keras 3 form, and the Keras &lt;= 2.1 form whose config
 * is the bare layer list) into a {@link Sequential} and Functional ones ({@code Model} / {@code Functional},
 * Keras 2's and Keras 3's {@code inbound_nodes}) into a functional {@link Model} of the same graph, built from
 * InputLayer, Dense, BatchNormalization, LayerNormalization, Activation (ReLU, Softmax), Dropout, Flatten, Add and Concatenate.
 * Every layer config key is honoured or rejected by name, and an unsupported layer is named with its type.
 * Weights live elsewhere: {@link ModelIO} for vecnorm's own files, the {@code keras} module for HDF5.
 */
public final class KerasConfig {
  private KerasConfig() {}

  /** Layer types this reader builds (InputLayer only fixes the input shape). */
  public static final List<String> SUPPORTED = List.of("InputLayer", "Dense", "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "Softmax",
      "GroupNormalization",
      "Dropout", "Flatten", "Add", "Concatenate");

  /** tfa's wrapper, in tf.keras 2 files under its registered name: read, never written (Keras 3 lacks it). */
  static final List<String> ADDONS = List.of("WeightNormalization", "Addons>WeightNormalization");

  /** Keys Keras puts next to a layer's class_name and config; none of them changes what the layer computes. */
  private static final Set<String> ENTRY_KEYS = Set.of("class_name", "config", "module", "registered_name", "build_config", "name",
      "inbound_nodes", "shared_object_id");

  /** Layer config keys that only declare the model's input shape (Keras 2's first layer). */
  private static final List<String> INPUT_SHAPE_KEYS = List.of("batch_input_shape", "input_shape", "batch_size", "input_dim");


  /**
   * Keras 3's {@code model.get_config()} wrapped as in {@code config.json}: a {@code Sequential} (InputLayer
   * first) for a Sequential, a {@code Functional} with every layer's {@code inbound_nodes} for a functional
   * Model. Layer configs come from {@link Layer#kerasConfig()}, so a vecnorm-only feature throws here.
   *
   * @param model the model to describe; not null
   * @return the config as nested maps and lists, ready for {@link dev.vecnorm.io.Json#write}
   */
  public static Map<String, Object> toConfig(Model model) {
    Objects.requireNonNull(model, "model");
    if (model.inputShape() == null) throw new IllegalStateException("build or fit the model before saving it");
    return model instanceof Sequential s ? sequentialConfig(s) : functionalConfig(model, true);
  }

  /** Keras 3's {@code model.get_config()} layout for a Sequential (see the real file's config.json). */
  static Map<String, Object> sequentialConfig(Sequential model) {
    int[] in = model.inputShape();
    List<Object> layers = new ArrayList<>();
    Map<String, Object> input = new LinkedHashMap<>();
    input.put("batch_shape", batchShape(in));
    input.put("dtype", "float32");
    input.put("sparse", false);
    input.put("name", "input_layer");
    layers.add(entry("InputLayer", input, null));
    int[] shape = in.clone();
    for (Layer l : model.layers()) {
      // Keras records build_config only for layers that build weights (not Dropout, Flatten, Activation).
      layers.add(entry(l.className(), l.kerasConfig(), l.parameters().isEmpty() ? null : shape));
      shape = l.computeOutputShape(shape);
    }
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", "sequential");
    c.put("trainable", true);
    c.put("dtype", "float32");
    c.put("layers", layers);
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("module", "keras");
    root.put("class_name", "Sequential");
    root.put("config", c);
    root.put("registered_name", null);
    root.put("build_config", Map.of("input_shape", batchShape(in)));
    return root;
  }

  /**
   * Keras 3's Functional config: every layer with its {@code inbound_nodes} as Keras 3 writes them
   * ({@code {"args": [tensor or [tensors]], "kwargs": {}}}, each tensor a {@code __keras_tensor__} with its
   * {@code keras_history}), and {@code input_layers} / {@code output_layers}.
   */
  static Map<String, Object> functionalConfig(Model model, boolean forKeras) {
    Map<SymbolicTensor, String> names = new java.util.IdentityHashMap<>();
    List<Object> layers = new ArrayList<>();
    List<Object> inputLayers = new ArrayList<>(), outputLayers = new ArrayList<>();
    for (int i = 0; i < model.inputs().size(); i++) {
      SymbolicTensor in = model.inputs().get(i);
      String name = model.inputs().size() == 1 ? "input_layer" : "input_layer_" + i;
      names.put(in, name);
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("batch_shape", batchShape(withBatch(in.shape())));
      c.put("dtype", "float32");
      c.put("sparse", false);
      c.put("name", name);
      Map<String, Object> e = entry("InputLayer", c, null);
      e.put("name", name);
      e.put("inbound_nodes", List.of());
      layers.add(e);
      inputLayers.add(List.of(name, 0.0, 0.0));
    }
    Map<Layer, SymbolicTensor> nodeOf = new java.util.IdentityHashMap<>();
    for (SymbolicTensor t : nodesOf(model)) nodeOf.put(t.layer(), t);
    for (Layer l : model.layers()) {
      SymbolicTensor node = nodeOf.get(l);
      names.put(node, l.name());
      List<Object> args = new ArrayList<>();
      for (SymbolicTensor in : node.inputs()) {
        Map<String, Object> tc = new LinkedHashMap<>();
        tc.put("shape", batchShape(withBatch(in.shape())));
        tc.put("dtype", "float32");
        tc.put("keras_history", List.of(names.get(in), 0.0, 0.0));
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("class_name", "__keras_tensor__");
        t.put("config", tc);
        args.add(t);
      }
      Map<String, Object> call = new LinkedHashMap<>();
      call.put("args", l instanceof Merge ? List.of(args) : args);
      call.put("kwargs", Map.of());
      // For vecnorm's own files (ModelIO) the layer's full config, vecnorm-only keys included.
      Map<String, Object> e = entry(l.className(), forKeras ? l.kerasConfig() : l.getConfig(),
          l.parameters().isEmpty() ? null : withBatch(node.inputs().get(0).shape()));
      e.put("name", l.name());
      e.put("inbound_nodes", List.of(call));
      layers.add(e);
    }
    for (SymbolicTensor o : model.outputs()) outputLayers.add(List.of(names.get(o), 0.0, 0.0));
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", "functional");
    c.put("trainable", true);
    c.put("layers", layers);
    c.put("input_layers", inputLayers);
    c.put("output_layers", outputLayers);
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("module", "keras.src.models.functional");
    root.put("class_name", "Functional");
    root.put("config", c);
    root.put("registered_name", "Functional");
    return root;
  }

  /** Every computed tensor of a functional model, found from its outputs. */
  private static List<SymbolicTensor> nodesOf(Model model) {
    List<SymbolicTensor> out = new ArrayList<>();
    java.util.Deque<SymbolicTensor> todo = new java.util.ArrayDeque<>(model.outputs());
    Set<SymbolicTensor> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    while (!todo.isEmpty()) {
      SymbolicTensor t = todo.pop();
      if (t.layer() == null || !seen.add(t)) continue;
      out.add(t);
      todo.addAll(t.inputs());
    }
    return out;
  }

  private static int[] withBatch(int[] sample) {
    int[] s = new int[sample.length + 1];
    s[0] = 1;
    System.arraycopy(sample, 0, s, 1, sample.length);
    return s;
  }

  private static Map<String, Object> entry(String cls, Map<String, Object> config, int[] inputShape) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("module", "keras.layers");
    e.put("class_name", cls);
    e.put("config", config);
    e.put("registered_name", null);
    if (inputShape != null) e.put("build_config", Map.of("input_shape", batchShape(inputShape)));
    return e;
  }

  private static List<Object> batchShape(int[] s) {
    List<Object> l = new ArrayList<>();
    l.add(null);
    for (int i = 1; i < s.length; i++) l.add((double) s[i]);
    return l;
  }


  // ---------------------------------------------------------------- config

  /**
   * A model from a parsed Keras model config ({@code config.json}, or a legacy {@code model_config}): a
   * {@link Sequential}, or a functional {@link Model} of the same graph. Built, with initial weights.
   *
   * @param parsed the config as {@link dev.vecnorm.io.Json#parse} returns it
   * @return the built model
   */
  public static Model fromConfig(Object parsed) {
    Map<?, ?> root = map(parsed, "the model config");
    keys(root, "the model config", Set.of("class_name", "config", "module", "registered_name", "build_config", "compile_config",
        "keras_version", "backend"));
    String cls = String.valueOf(root.get("class_name"));
    switch (cls) {
      case "Sequential" -> {
        if (root.get("config") instanceof List<?> l) return sequential(l); // Keras <= 2.1: the config is the bare layer list
        Map<?, ?> c = map(root.get("config"), "config");
        keys(c, "the Sequential config", Set.of("name", "layers", "trainable", "dtype", "build_input_shape"));
        return sequential(list(c.get("layers"), "config.layers"));
      }
      case "Model", "Functional" -> {
        Map<?, ?> c = map(root.get("config"), "config");
        keys(c, "the Functional config", Set.of("name", "layers", "input_layers", "output_layers", "trainable", "dtype"));
        return functional(c);
      }
      default -> throw new IllegalArgumentException("model class_name " + cls + " is not supported (Sequential, Model or Functional)");
    }
  }

  /** One layer entry, checked: its type, name, config (input-shape keys removed) and, for InputLayer, the shape. */
  private record Entry(String type, String name, Map<String, Object> config, Map<?, ?> raw, int[] declaredShape) {
    String what() {
      return "layer '" + name + "' (" + type + ")";
    }

    Layer build() {
      try {
        return ModelIO.layerFromConfig(type, config);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(what() + ": " + e.getMessage(), e);
      }
    }
  }

  private static Entry entry(Object o, int i) {
    Map<?, ?> e = map(o, "layers[" + i + "]");
    String type = String.valueOf(e.get("class_name"));
    Map<?, ?> raw = map(e.get("config"), "layers[" + i + "].config");
    String name = String.valueOf(raw.get("name"));
    String what = "layer '" + name + "' (" + type + ")";
    if (!SUPPORTED.contains(type) && !ADDONS.contains(type)) {
      throw new IllegalArgumentException(what + ": vecnorm does not implement layer type " + type + " (supported: "
          + String.join(", ", SUPPORTED) + ")");
    }
    try {
      keys(e, "the entry", ENTRY_KEYS);
      Map<String, Object> config = new LinkedHashMap<>();
      raw.forEach((k, v) -> config.put(String.valueOf(k), v));
      if (type.equals("InputLayer")) return new Entry(type, name, config, e, inputLayerShape(config));
      int[] declared = declaredShape(config);
      for (String k : INPUT_SHAPE_KEYS) config.remove(k);
      return new Entry(type, name, config, e, declared);
    } catch (IllegalArgumentException ex) {
      throw new IllegalArgumentException(what + ": " + ex.getMessage(), ex);
    }
  }

  private static Sequential sequential(List<?> entries) {
    Sequential model = new Sequential();
    int[] inputShape = null;
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entry(entries.get(i), i);
      if (e.type().equals("InputLayer")) {
        if (i != 0) throw new IllegalArgumentException(e.what() + ": an InputLayer must come first");
        inputShape = e.declaredShape();
        continue;
      }
      if (e.declaredShape() != null && inputShape == null && model.layers().isEmpty()) inputShape = e.declaredShape();
      model.add(e.build());
    }
    if (inputShape == null) throw new IllegalArgumentException("the config declares no input shape (no InputLayer, no batch_input_shape)");
    model.build(inputShape);
    return model;
  }

  /** The graph of a Functional config: each layer applied to the tensors its inbound_nodes name. */
  private static Model functional(Map<?, ?> c) {
    List<?> entries = list(c.get("layers"), "config.layers");
    Map<String, SymbolicTensor> tensors = new LinkedHashMap<>();
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entry(entries.get(i), i);
      if (tensors.containsKey(e.name())) throw new IllegalArgumentException(e.what() + ": a second layer of this name (shared layers are not supported)");
      if (e.type().equals("InputLayer")) {
        int[] s = e.declaredShape();
        tensors.put(e.name(), Input.shape(Arrays.copyOfRange(s, 1, s.length)));
        continue;
      }
      List<String> inbound;
      try {
        inbound = inboundNames(e.raw().get("inbound_nodes"));
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException(e.what() + ": " + ex.getMessage(), ex);
      }
      List<SymbolicTensor> in = new ArrayList<>();
      for (String n : inbound) {
        SymbolicTensor t = tensors.get(n);
        if (t == null) throw new IllegalArgumentException(e.what() + ": takes its input from '" + n + "', which no earlier layer defines");
        in.add(t);
      }
      Layer layer = e.build();
      try {
        if (layer instanceof Merge m) {
          tensors.put(e.name(), m.apply(in.toArray(SymbolicTensor[]::new)));
        } else {
          if (in.size() != 1) throw new IllegalArgumentException("takes " + in.size() + " inputs " + inbound + ", expected 1");
          tensors.put(e.name(), layer.apply(in.get(0)));
        }
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException(e.what() + ": " + ex.getMessage(), ex);
      }
    }
    return new Model(endpoints(c.get("input_layers"), tensors, "input_layers"), endpoints(c.get("output_layers"), tensors, "output_layers"));
  }

  /** {@code [["name", 0, 0], ...]} (or one such triple, as Keras 3 writes a single output) to tensors. */
  private static List<SymbolicTensor> endpoints(Object o, Map<String, SymbolicTensor> tensors, String what) {
    List<?> l = list(o, what);
    List<?> triples = !l.isEmpty() && l.get(0) instanceof String ? List.of(l) : l;
    List<SymbolicTensor> out = new ArrayList<>();
    for (Object t : triples) {
      String name = String.valueOf(list(t, what + " entry").get(0));
      SymbolicTensor s = tensors.get(name);
      if (s == null) throw new IllegalArgumentException(what + " names '" + name + "', which is not a layer of the config");
      out.add(s);
    }
    return out;
  }

  private static int[] inputLayerShape(Map<String, Object> c) {
    keysOf(c, "InputLayer", Set.of("batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "name", "optional", "input_tensor"));
    for (String k : List.of("sparse", "ragged", "optional")) {
      if (Boolean.TRUE.equals(c.get(k))) throw new IllegalArgumentException("InputLayer " + k + "=true is not supported");
    }
    if (c.get("input_tensor") != null) throw new IllegalArgumentException("InputLayer input_tensor is not supported");
    if (c.get("dtype") != null && !"float32".equals(c.get("dtype"))) throw new IllegalArgumentException("InputLayer dtype must be float32, got " + c.get("dtype"));
    Object shape = c.get("batch_shape") != null ? c.get("batch_shape") : c.get("batch_input_shape");
    return shape(shape, "batch_shape");
  }

  /** The input shape a Keras 2 first layer declares ({@code batch_input_shape} or {@code input_shape}), or null. */
  private static int[] declaredShape(Map<String, Object> c) {
    if (c.get("batch_input_shape") != null) return shape(c.get("batch_input_shape"), "batch_input_shape");
    if (c.get("input_shape") != null) {
      List<Object> s = new ArrayList<>();
      s.add(null);
      s.addAll(list(c.get("input_shape"), "input_shape"));
      return shape(s, "input_shape");
    }
    if (c.get("input_dim") instanceof Double d) return shape(Arrays.asList(null, d), "input_dim");
    return null;
  }

  /** {@code [null, d1, ...]} to {@code {1, d1, ...}}: a one-row batch to build with. */
  private static int[] shape(Object o, String what) {
    List<?> l = list(o, what);
    if (l.size() < 2) throw new IllegalArgumentException(what + " must be [batch, d1, ...], got " + o);
    int[] s = new int[l.size()];
    s[0] = 1;
    for (int i = 1; i < s.length; i++) {
      if (!(l.get(i) instanceof Double d) || d != Math.rint(d) || d < 1 || d > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(what + "[" + i + "] must be an integer >= 1 (variable sizes are not supported), got " + o);
      }
      s[i] = d.intValue();
    }
    return s;
  }

  /**
   * Names of the layers feeding this one. Keras 2: {@code [[["name", node, tensor, {}], ...]]}; Keras 3:
   * {@code [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["name", node, tensor]}}], "kwargs": {}}]}.
   *
   * @param nodes a layer's parsed {@code inbound_nodes} value, in Keras 2 or Keras 3 form
   * @return the names of the feeding layers, in argument order
   */
  public static List<String> inboundNames(Object nodes) {
    List<String> out = new ArrayList<>();
    if (nodes == null) return out;
    for (Object node : list(nodes, "inbound_nodes")) {
      if (node instanceof List<?> calls) {
        for (Object call : calls) out.add(String.valueOf(list(call, "an inbound node").get(0)));
      } else {
        collectHistory(map(node, "an inbound node"), out);
      }
    }
    return out;
  }

  private static void collectHistory(Object o, List<String> out) {
    if (o instanceof Map<?, ?> m) {
      if (m.get("keras_history") instanceof List<?> h) {
        out.add(String.valueOf(h.get(0)));
        return;
      }
      for (Object v : m.values()) collectHistory(v, out);
    } else if (o instanceof List<?> l) {
      for (Object v : l) collectHistory(v, out);
    }
  }

  static Map<?, ?> map(Object o, String what) {
    if (o instanceof Map<?, ?> m) return m;
    throw new IllegalArgumentException(what + " must be a JSON object, got " + o);
  }

  static List<?> list(Object o, String what) {
    if (o instanceof List<?> l) return l;
    throw new IllegalArgumentException(what + " must be a JSON array, got " + o);
  }

  private static void keys(Map<?, ?> m, String what, Set<String> known) {
    for (Object k : m.keySet()) {
      if (!known.contains(String.valueOf(k))) throw new IllegalArgumentException(what + " has unknown key '" + k + "' (known: " + known + ")");
    }
  }

  private static void keysOf(Map<String, Object> m, String what, Set<String> known) {
    keys(m, what, known);
  }
}
